// The network frontend: Xen's netif protocol (<xen/io/netif.h>) against a standard backend
// laid out as libxl lays it out (docs/pumice.md, "Network devices"). A Device is the
// net::Driver of one stack interface:
//
//   netfront::Device vif;
//   if (long rc = vif.open(0); rc < 0) ...          // device/vif/0
//   net::InterfaceConfig config;
//   config.mac = vif.mac();
//   net::Interface* eth = stack.add_interface(vif, config);
//   vif.attach(*eth);                                // received frames go there
//
// One queue, one page per ring (256 slots each), receive by copy (request-rx-copy): the
// receive ring is kept full of pages granted to the backend, each granted afresh when it
// is posted and its grant ended before the frame is read, so the backend cannot change a
// frame under us. Transmit copies each frame into pages of ours granted read-only for that
// frame alone; a frame of more than one page goes in several slots (NETTXF_more_data) when
// the backend offers feature-sg. Checksums are computed by lwIP both ways
// (feature-no-csum-offload).
//
// Threading: open() and close() block (threads only). transmit() is the stack's (never
// blocks: a full ring drops the frame and counts it). Responses are handled in the event
// handler, which hands frames to Interface::receive() (safe there) and reposts buffers.
#pragma once

#include <pumice/io_ring.hpp>
#include <pumice/net.hpp>
#include <pumice/spinlock.hpp>
#include <pumice/xenbus_frontend.hpp>

#include <xen/io/netif.h>

namespace pumice::netfront {

// Slots per ring (one page each): every one of them has a receive buffer posted.
inline constexpr uint32_t kRxSlots = __CONST_RING_SIZE(netif_rx, 4096);
inline constexpr uint32_t kTxSlots = __CONST_RING_SIZE(netif_tx, 4096);
// The longest frame either direction carries: lwIP's MTU is 1500, but a multi-slot frame
// from a backend may be longer (it is then dropped by the stack, not here).
inline constexpr uint32_t kMaxFrame = XEN_NETIF_MAX_TX_SIZE;
// Slots one received frame may span (as Linux's frontend, XEN_NETIF_NR_SLOTS_MIN).
inline constexpr uint32_t kMaxRxSlotsPerFrame = XEN_NETIF_NR_SLOTS_MIN;

// The children of the domain's device/vif (devids), ascending: how many were stored in
// devids (at most max), or a negative Xen errno (-XEN_ENOENT: no vif at all).
long list(uint32_t* devids, size_t max);
// Parses "aa:bb:cc:dd:ee:ff" (hex, either case); false when malformed.
bool parse_mac(const char* text, net::MacAddress* out);

class Device final : public net::Driver {
  public:
    Device() = default;
    ~Device();
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    // Connects to the vif whose frontend directory is `dir` (relative to the domain's home,
    // "device/vif/0") or devid, waiting up to timeout_ns for each of the backend's steps.
    // 0, or a negative Xen errno (-XEN_ENODEV: no such vif, or the backend went away;
    // -XEN_EINVAL: a malformed mac or backend node; -XEN_ETIMEDOUT).
    long open(const char* dir, uint64_t timeout_ns = 10 * 1000 * 1000 * 1000ull);
    long open(uint32_t devid, uint64_t timeout_ns = 10 * 1000 * 1000 * 1000ull);
    // Where received frames go from now on (before: dropped and counted).
    void attach(net::Interface& interface);
    // Closing → the backend's Closing/Closed → Closed; ends every grant.
    long close();

    bool connected() const;
    net::MacAddress mac() const { return mac_; }
    uint32_t devid() const { return devid_; }
    const char* name() const { return name_; }
    // Whether the backend offered feature-sg (multi-slot transmit).
    bool scatter_gather() const { return backend_sg_; }

    // net::Driver: copies the frame into granted pages and pushes it; false (and counted in
    // tx_dropped) when the ring is full, the frame too long, or the device not connected.
    bool transmit(const net::Frame& frame) override;
    // Inside the stack's batches, transmitted frames are put on the ring but published to
    // the backend (and the backend notified, if it asks) only at the batch's end, or when
    // the ring is full.
    void begin_batch() override;
    void end_batch() override;

    struct Stats {
        uint64_t rx_frames = 0;  // handed to the interface
        uint64_t rx_bytes = 0;
        uint64_t rx_errors = 0;   // error status, bad offset/size, over-long chains
        uint64_t rx_dropped = 0;  // no interface attached, or receive() refused
        uint64_t tx_frames = 0;   // pushed
        uint64_t tx_bytes = 0;
        uint64_t tx_errors = 0;   // responses with an error status
        uint64_t tx_dropped = 0;  // ring full, too long, not connected
        uint64_t notifies = 0;    // event channel notifications sent
        uint64_t rx_passes = 0;   // passes over the rx ring that found responses
        uint64_t bad_responses = 0;
    };
    Stats stats() const;

  private:
    struct RxBuffer;
    struct TxSlot;
    enum class State : uint8_t { closed, connected, broken, gone };

    // Connection (netfront.cpp).
    long read_frontend();
    long connect(uint64_t deadline);
    long setup_rings();
    long publish();
    static bool on_backend_gone(void* arg, long backend_state);
    void release_connection();
    void free_rings();

    // Rings (netfront_ring.cpp).
    static void on_event(evtchn_port_t port, void* arg);
    long init_tx_slots();
    long fill_rx_ring();
    void refill_rx_locked();
    bool post_rx_locked(RING_IDX index);
    void handle_rx_locked(bool& notify);
    bool take_rx_slot_locked(const netif_rx_response_t& rsp, RING_IDX index);
    void append_rx_locked(const uint8_t* data, uint32_t size, bool last);
    void deliver_rx_locked(const uint8_t* frame, uint32_t size);
    bool end_rx_grant(RxBuffer& buffer);
    void handle_tx_locked();
    bool reclaim_tx_locked(const netif_tx_response_t& rsp);
    bool end_tx_grant(TxSlot& slot);
    long push_tx_locked(const net::Frame& frame, size_t size, bool& notify);
    void break_device(const char* why, uint32_t id, int32_t status);
    void end_all_grants();

    xenbus::Frontend xb_{on_backend_gone, this};  // directories, event channel, handshake
    char name_[16] = {};
    uint32_t devid_ = 0;
    net::MacAddress mac_;
    bool backend_sg_ = false;
    net::Interface* interface_ = nullptr;

    State state() const { return __atomic_load_n(&state_, __ATOMIC_ACQUIRE); }
    void set_state(State s) { __atomic_store_n(&state_, s, __ATOMIC_RELEASE); }

    // rx_lock_ guards the receive ring, its buffers and the reassembly state; tx_lock_ the
    // transmit ring and its slots. Both are taken by the event handler, so threads hold
    // them through IrqSpinGuard. Never both at once. state_ is atomic: the ring code only
    // ever moves it from connected to broken.
    mutable SpinLock rx_lock_;
    mutable SpinLock tx_lock_;
    State state_ = State::closed;

    netif_rx_front_ring_t rx_ = {};
    void* rx_ring_page_ = nullptr;
    grant_ref_t rx_ring_ref_ = 0;
    bool rx_ring_granted_ = false;
    RxBuffer* rx_buffers_ = nullptr;  // kRxSlots, slot i of the ring uses buffer i % kRxSlots
    uint8_t* rx_frame_ = nullptr;     // kMaxFrame: a multi-slot frame is gathered here
    uint32_t rx_frame_len_ = 0;
    uint32_t rx_frame_slots_ = 0;  // slots of the frame being gathered (0: none)
    bool rx_frame_bad_ = false;    // drop it when its last slot arrives
    uint32_t rx_extras_ = 0;       // extra-info slots still to skip

    netif_tx_front_ring_t tx_ = {};
    void* tx_ring_page_ = nullptr;
    grant_ref_t tx_ring_ref_ = 0;
    bool tx_ring_granted_ = false;
    TxSlot* tx_slots_ = nullptr;  // kTxSlots, by request id
    uint16_t tx_free_[kTxSlots] = {};
    uint32_t tx_nfree_ = 0;
    bool tx_batch_ = false;  // between begin_batch() and end_batch(): requests not yet pushed

    Stats stats_;  // rx_* under rx_lock_, tx_* under tx_lock_, the other two atomic
};

}  // namespace pumice::netfront
