// One connected virtual block device (blkback's data path): the frontend's shared ring and
// event channel on one side, an Image on the other. One thread per connection serves the
// ring: on each notification it copies requests out of the ring, checks them
// (blkif_request.hpp), maps their data pages through the frontend's grants, hands the I/O
// to an IoEngine with iovecs pointing straight at those pages, and writes each response as
// its I/O completes.
//
// The xenbus handshake (reading ring-ref/event-channel/protocol, writing the features from
// backend_features(), the state changes) is the caller's: this class starts at "the
// frontend is Initialised" and ends when destroyed.
//
// Hostile frontends: a malformed request gets an error response and the device carries
// on; a ring whose indices no honest frontend can produce disconnects the device (one log
// line naming it and the reason; broken() turns true) and the daemon carries on.
//
// Threads: the ring thread owns the ring, the slots, the grant cache and the engine. Other
// threads only read the counters and the broken state (atomics, and a mutex for the
// reason).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "backends/blkback/blkif.hpp"
#include "backends/blkback/blkif_request.hpp"
#include "backends/blkback/grant_cache.hpp"
#include "backends/blkback/image.hpp"
#include "backends/blkback/io_engine.hpp"
#include "backends/blkback/shared_ring.hpp"
#include "base/unique_fd.hpp"
#include "hv/domain.hpp"
#include "hv/host_channel.hpp"

namespace xenolith::blkback {

// What the frontend wrote to xenstore, read by the handshake glue.
struct FrontendRing {
    std::vector<grant_ref_t> refs;  // ring-ref, or ring-ref0..N-1 (N = 2^ring-page-order)
    uint32_t port = 0;              // event-channel, offered to domid 0
    bool persistent = false;        // feature-persistent (the backend always offers it)
    std::string protocol;           // "x86_64-abi" or empty (native)
};

class BlkConnection {
  public:
    struct Options {
        IoEngineKind engine = IoEngineKind::Auto;
        uint32_t max_ring_page_order = 4;
        uint32_t max_indirect_segments = 256;  // at most kMaxIndirectSegmentsCeiling; 0: none
        uint32_t max_persistent_grants = 1056;
        bool discard = true;  // the toolstack's discard-enable
        bool cdrom = false;   // device-type "cdrom": info gets VDISK_CDROM
        // Where the one-line reports go (a disconnect); spdlog's default logger if empty.
        std::function<void(std::string_view)> log;
        // Called once, on the ring thread, when the device disconnects itself. It must not
        // destroy the connection (the destructor joins that thread).
        std::function<void(const std::string& reason)> on_broken;
    };

    struct Stats {
        uint64_t requests = 0;  // taken off the ring
        uint64_t reads = 0;     // completed successfully, by kind
        uint64_t writes = 0;
        uint64_t flushes = 0;  // flushes and barriers
        uint64_t discards = 0;
        uint64_t bytes_read = 0;
        uint64_t bytes_written = 0;
        uint64_t errors = 0;  // responses other than BLKIF_RSP_OKAY
        uint64_t persistent_grants = 0;
    };

    // Maps the ring, binds the event channel and starts serving. Throws Error when the
    // protocol is not native x86_64, the ring cannot be mapped or the port not bound.
    BlkConnection(std::shared_ptr<hv::Domain> domain, std::shared_ptr<Image> image,
                  FrontendRing ring, Options opts,
                  std::string name /* "vbd 51712 of domain 3", for logs */);
    // stop(), then unmaps everything and unbinds the port.
    ~BlkConnection();
    BlkConnection(const BlkConnection&) = delete;
    BlkConnection& operator=(const BlkConnection&) = delete;

    // Stops taking requests and returns once the I/O in flight has completed and been
    // answered (the ring thread has ended). Idempotent; the stats stay readable.
    void stop();

    const std::string& name() const { return name_; }
    bool broken() const { return broken_.load(); }
    std::string broken_reason() const;
    Stats stats() const;
    const char* engine_name() const { return engine_->name(); }
    uint32_t ring_size() const { return ring_size_; }

    // The nodes blkback writes into its backend directory for `image` before InitWait:
    // name and value, in a fixed order.
    static std::vector<std::pair<std::string, std::string>> backend_features(const Image& image,
                                                                             const Options& opts);

  private:
    enum class Stage : uint8_t { Free, Parked, Data, Sync, Discard };
    // One request between the ring and its response. There are ring_size() of them, made
    // once: a request storm cannot grow memory.
    struct Slot {
        Stage stage = Stage::Free;
        bool sync_after = false;  // a flush or barrier: fdatasync once the data is written
        BlkRequest req;
        std::vector<iovec> iov;
        std::vector<hv::GrantMapping> held;  // non-persistent mappings, until completion
        uint64_t bytes = 0;                  // what the data stage must move
    };

    void run();
    void serve();
    uint32_t serve_round(bool arm);
    // How long the ring thread watches a busy ring for more requests before it sleeps.
    static constexpr std::chrono::microseconds kRequestSpin{50};
    // Rounds served back to back before the thread polls its fds (the stop signal) again.
    static constexpr uint32_t kRoundsBeforePoll = 64;
    bool wait_for_requests(std::chrono::nanoseconds how_long);
    void drain_in_flight();
    // Takes what the ring holds; with `arm`, asks for a notify (req_event) before it stops
    // and takes what came meanwhile. Returns how many requests it took.
    uint32_t consume_requests(bool arm = true);
    void start_request(const blkif_request_t& copy);
    // Fills slot.iov from the request's segments; false when a grant cannot be mapped.
    bool map_segments(Slot& slot);
    bool load_indirect_segments(Slot& slot);
    void start_io(uint32_t index);
    void queue_op(uint32_t index, IoOp::Kind kind, Stage stage);
    void reap_completions();
    void complete(uint32_t index, int64_t result);
    void finish(uint32_t index, int16_t status);
    void respond(uint64_t id, uint8_t op, int16_t status);
    void push_responses();
    void submit_queued();
    void disconnect(const std::string& reason);

    const std::string name_;
    const std::shared_ptr<hv::Domain> domain_;
    const std::shared_ptr<Image> image_;
    const Options opts_;
    const DiskLimits limits_;
    SharedRing shared_;
    blkif_back_ring_t ring_{};
    uint32_t ring_size_ = 0;
    hv::HostChannel channel_;
    GrantCache grants_;
    std::unique_ptr<IoEngine> engine_;
    std::vector<Slot> slots_;
    std::vector<uint32_t> free_slots_;
    std::vector<IoOp> queued_ops_;
    uint32_t in_flight_ = 0;           // ops handed to the engine, not yet reaped
    std::optional<uint32_t> barrier_;  // the barrier holding the ring, if any
    bool responses_waiting_ = false;   // written but not yet pushed
    UniqueFd stop_;

    std::atomic<bool> broken_{false};
    mutable std::mutex reason_mutex_;
    std::string reason_;
    struct Counters {
        std::atomic<uint64_t> requests{0}, reads{0}, writes{0}, flushes{0}, discards{0};
        std::atomic<uint64_t> bytes_read{0}, bytes_written{0}, errors{0}, persistent_grants{0};
    } counters_;

    std::thread thread_;  // last: starts once everything above exists
};

}  // namespace xenolith::blkback
