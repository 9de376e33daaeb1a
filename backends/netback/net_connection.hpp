// One connected virtual network interface (netback's data path): the frontend's tx and rx
// rings and event channel on one side, a HostLink on the other. One thread per connection
// serves both rings. TX: it reads each packet's chain of slots (tx_chain.hpp), copies the
// frame out of the granted pages, completes a blank checksum and hands the frame to the
// link, answering every slot. RX: frames from the link wait in a bounded queue and are
// copied into the buffers the guest posted, one page per slot.
//
// The xenbus handshake is the caller's (netback_driver.hpp): this class starts at "the
// frontend is Initialised" and ends when destroyed.
//
// Hostile frontends: a bad packet gets NETIF_RSP_ERROR and the device carries on; ring
// indices no honest frontend produces, a slot past its page, an endless chain or a grant
// reference not granted to us disconnect the device (on_broken, once) and the daemon
// carries on. Work per wakeup is bounded (a budget of packets and frames), and so is memory:
// the rx queue drops when full and counts what it dropped.
//
// Threads: the ring thread owns the tx ring. The rx ring and the rx queue are under
// rx_mutex_: receive() (on the link's thread) queues the frame and, unless the ring thread
// holds the mutex, copies what is queued into the guest's buffers itself and notifies, so
// a frame from the host reaches the guest without a thread switch; the ring thread does the
// same when the guest posts buffers. Only the ring thread disconnects: what receive() finds
// hostile it leaves in rx_break_ and wakes that thread. Counters are atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "backends/netback/host_link.hpp"
#include "backends/netback/netif.hpp"
#include "backends/netback/tx_chain.hpp"
#include "base/unique_fd.hpp"
#include "hv/domain.hpp"
#include "hv/grant_table.hpp"
#include "hv/host_channel.hpp"

namespace xenolith::netback {

// What the frontend wrote to xenstore, read by the handshake glue.
struct NetFrontend {
    grant_ref_t tx_ring_ref = 0;
    grant_ref_t rx_ring_ref = 0;
    uint32_t port = 0;             // event-channel, offered to domid 0
    bool sg = false;               // feature-sg: rx frames may span several buffers
    bool rx_notify = false;        // feature-rx-notify: it notifies when it posts rx buffers
    bool no_csum_offload = false;  // feature-no-csum-offload (we never send csum_blank)
};

struct NetStats {
    uint64_t tx_packets = 0;  // guest → host, handed to the link
    uint64_t tx_bytes = 0;
    uint64_t tx_errors = 0;   // answered NETIF_RSP_ERROR
    uint64_t tx_dropped = 0;  // the link refused them (NETIF_RSP_DROPPED)
    uint64_t rx_packets = 0;  // host → guest, copied into guest buffers
    uint64_t rx_bytes = 0;
    uint64_t rx_dropped = 0;   // the rx queue was full
    uint64_t rx_oversize = 0;  // larger than one page and the frontend has no feature-sg

    NetStats& operator+=(const NetStats& o);
};

class NetConnection {
  public:
    // Frames waiting for guest buffers, at most.
    static constexpr size_t kRxQueueFrames = 256;
    // Per wakeup, at most this many tx packets and rx frames before looking at the others.
    static constexpr uint32_t kBudget = 64;
    // Without feature-rx-notify, how often waiting frames look for new buffers.
    static constexpr int kRxPollMs = 10;

    struct Options {
        // Called once, on the ring thread, when the device disconnects itself, with the
        // reason (the caller adds the device's name). It must not
        // destroy the connection (the destructor joins that thread).
        std::function<void(const std::string& reason)> on_broken;
    };

    // Maps both rings, binds the event channel and starts serving. Throws Error when a ring
    // cannot be mapped or the port not bound.
    NetConnection(std::shared_ptr<hv::Domain> domain, const NetFrontend& frontend, HostLink& link,
                  Options options);
    // Stops the ring thread, then drops the rings and the channel.
    ~NetConnection();
    NetConnection(const NetConnection&) = delete;
    NetConnection& operator=(const NetConnection&) = delete;

    // A frame from the host for the guest (any thread): queued, or dropped when full.
    void receive(std::span<const uint8_t> frame);

    NetStats stats() const;
    bool broken() const { return broken_.load(); }
    const NetFrontend& frontend() const { return frontend_; }

  private:
    void run();
    // Both return whether work is left over (the budget ran out).
    bool process_tx();
    bool process_rx(bool& notify);
    // Under rx_mutex_: copies up to kBudget queued frames into guest buffers; a hostile
    // ring's reason goes to rx_break_. True when frames are left that could go now.
    bool pump_rx_locked();
    bool queue_rx_locked(std::span<const uint8_t> frame);  // false: full, dropped
    // Copies one checked chain's bytes out of the granted pages; false when hostile.
    bool copy_tx(const TxChain& chain, Frame& frame);
    void handle_tx_chain(TxChain& chain);
    void respond_tx(const TxChain& chain, int16_t status);
    // Copies `frame` into the next guest buffers; false (and rx_break_ set) when hostile.
    bool deliver_rx(const Frame& frame, uint32_t slots);
    void push_and_notify(bool notify_rx);
    void disconnect(const std::string& reason);

    const std::shared_ptr<hv::Domain> domain_;
    const NetFrontend frontend_;
    HostLink& link_;
    const Options options_;
    const bool checksums_trusted_;
    hv::GrantMapping tx_page_;
    hv::GrantMapping rx_page_;
    netif_tx_back_ring_t tx_{};
    netif_rx_back_ring_t rx_{};
    hv::HostChannel channel_;
    UniqueFd wake_;  // the link queued frames
    UniqueFd stop_;

    std::mutex rx_mutex_;  // rx_, rx_queue_, rx_break_
    std::deque<Frame> rx_queue_;
    std::string rx_break_;  // why the rx ring is hostile, for the ring thread to report

    std::atomic<bool> broken_{false};
    struct Counters {
        std::atomic<uint64_t> tx_packets{0}, tx_bytes{0}, tx_errors{0}, tx_dropped{0};
        std::atomic<uint64_t> rx_packets{0}, rx_bytes{0}, rx_dropped{0}, rx_oversize{0};
    } counters_;

    std::thread thread_;  // last: starts once everything above exists
};

}  // namespace xenolith::netback
