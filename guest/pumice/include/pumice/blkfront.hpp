// The block frontend: Xen's blkif protocol (<xen/io/blkif.h>) against a standard backend
// laid out as libxl lays it out (docs/pumice.md, "Block devices").
//
//   blkfront::Device disk;
//   if (long rc = disk.open(51712); rc < 0) ...   // or open("device/vbd/51712")
//   disk.write(0, buf, 8); disk.flush(); disk.read(0, buf, 8);
//   disk.close();                                 // also done by the destructor
//
// Sector numbers and counts are in 512-byte units, as on the ring. Every call may be made
// from several threads (on any vCPU) at once: they share the ring, and completions wake
// the waiting thread from the event handler. `submit` + `CompletionQueue` keep many
// requests in flight from one thread. Calls block: threads only, never event handlers.
//
// Errors are negative Xen errnos: -XEN_EINVAL (range or arguments), -XEN_EROFS (write to a
// read-only disk), -XEN_EIO (the backend failed the request, or broke the protocol: the
// device is then unusable), -XEN_EOPNOTSUPP (no flush or discard offered), -XEN_ENODEV
// (not connected, or the backend closed the device: hot-unplug).
#pragma once

#include <pumice/io_ring.hpp>
#include <pumice/spinlock.hpp>
#include <pumice/waitqueue.hpp>
#include <pumice/xenbus_frontend.hpp>

#include <xen/io/blkif.h>

namespace pumice::blkfront {

inline constexpr uint32_t kSectorSize = 512;
// The most segments (pages) one ring request carries: 256 is 1 MiB, through an indirect
// descriptor page when the backend offers feature-max-indirect-segments.
inline constexpr uint32_t kMaxIndirectSegments = 256;
// Ring pages asked for at most (2^2 = 4 pages, 128 slots): deeper queues gain nothing with
// a few vCPUs, and every slot's data pages cost grant entries.
inline constexpr unsigned kMaxRingPageOrder = 2;
// Persistent grants (data and indirect pages) kept per device at most; the table has about
// 2000 entries for every device and the console and store.
inline constexpr uint32_t kMaxPersistentGrants = 1024;

// The children of the domain's device/vbd (devids), ascending: how many were stored in
// devids (at most max), or a negative Xen errno (-XEN_ENOENT: no vbd at all).
long list(uint32_t* devids, size_t max);
// Xen's name for a vdev number ("xvda" for 51712 = 202 << 8, "xvdb" for 51728, "xvda1"
// for 51713, extended numbers (1 << 28) too); "vbd-<devid>" for other encodings.
void devid_name(uint32_t devid, char* buf, size_t size);

// What the backend said about the disk, and what this connection uses.
struct Info {
    uint64_t sectors = 0;      // size in units of sector_size (always 512 here)
    uint32_t sector_size = 0;  // logical block size ("sector-size")
    uint32_t physical_sector_size = 0;
    uint32_t vdisk_info = 0;  // "info": VDISK_CDROM | VDISK_REMOVABLE | VDISK_READONLY
    bool readonly = false;    // VDISK_READONLY, or the backend's mode "r"
    bool flush = false;       // feature-flush-cache
    bool barrier = false;     // feature-barrier
    bool discard = false;     // feature-discard
    bool discard_secure = false;
    uint32_t discard_granularity = 0;
    uint32_t discard_alignment = 0;
    bool persistent = false;             // both ends offer feature-persistent
    uint32_t max_indirect_segments = 0;  // the backend's offer (0: none)
    uint32_t segments_per_request = 0;   // what requests use (11, or up to 256 indirect)
    uint32_t ring_pages = 0;
    uint32_t ring_slots = 0;
};

enum class Op : uint8_t { read, write, flush, discard };

class CompletionQueue;
class Device;

// An asynchronous request. The caller owns it and its buffer until it completes: then
// `result` holds 0 or a negative Xen errno and it is posted to `cq` (else wait() returns).
// Reads and writes of any length are split into ring requests as needed.
struct Io {
    Op op = Op::read;
    uint64_t sector = 0;    // 512-byte units
    uint64_t nsectors = 0;  // read/write/discard
    void* buf = nullptr;    // read/write: nsectors * 512 bytes, any alignment
    bool secure = false;    // discard with BLKIF_DISCARD_SECURE
    CompletionQueue* cq = nullptr;
    void* user = nullptr;  // for the caller
    long result = 0;

    bool done() const { return __atomic_load_n(&done_, __ATOMIC_ACQUIRE); }

  private:
    friend class Device;
    friend class CompletionQueue;
    uint32_t parts_ = 0;  // ring requests outstanding, +1 while submit() still adds parts
    bool done_ = false;
    Io* next_ = nullptr;  // in a CompletionQueue
};

// Where asynchronous requests land when they complete (FIFO). SMP-safe.
class CompletionQueue {
  public:
    // Blocks until a request has completed and returns it.
    Io* wait();
    // A completed request, or nullptr without blocking.
    Io* poll();

  private:
    friend class Device;
    void post(Io* io);
    Io* pop();
    WaitQueue wq_;  // its lock also guards the list
    Io* head_ = nullptr;
    Io* tail_ = nullptr;
};

class Device {
  public:
    Device() = default;
    ~Device();
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    // Connects to the vbd whose frontend directory is `dir` (relative to the domain's home,
    // "device/vbd/51712") or devid. Waits up to timeout_ns for each of the backend's steps.
    // 0, or a negative Xen errno (-XEN_ENODEV: no such device; -XEN_ETIMEDOUT).
    long open(const char* dir, uint64_t timeout_ns = 10 * 1000 * 1000 * 1000ull);
    long open(uint32_t devid, uint64_t timeout_ns = 10 * 1000 * 1000 * 1000ull);
    // Whether the next open() offers feature-persistent (default true). Persistent grants
    // cost a copy between the pool and the caller's buffer; without them each request
    // grants the caller's pages, which is cheaper for large requests.
    void set_persistent(bool offer) { frontend_persistent_ = offer; }
    // Waits (a while) for requests in flight, then Closing → the backend's Closing/Closed →
    // Closed, and ends every grant. Requests still in flight fail with -XEN_ENODEV.
    long close();

    bool connected() const;
    const Info& info() const { return info_; }
    uint32_t devid() const { return devid_; }
    const char* name() const { return name_; }

    long read(uint64_t sector, void* buf, uint64_t nsectors);
    long write(uint64_t sector, const void* buf, uint64_t nsectors);
    // BLKIF_OP_FLUSH_DISKCACHE (or a write barrier): writes acknowledged before it are on
    // stable storage when it completes. -XEN_EOPNOTSUPP if the backend offers neither.
    long flush();
    long discard(uint64_t sector, uint64_t nsectors, bool secure = false);

    // Queues `io` (blocking while the ring or the grant pool is full): 0 and it will
    // complete, or a negative Xen errno and it will not.
    long submit(Io& io);
    // Queues ios[0..n) in order and tells the backend once, after the last (each submit()
    // may notify it: a trap on the process platform). Returns how many were queued; if
    // fewer than n, ios[returned]->result holds why it was not, and it and those after it
    // will not complete. Requests already written are published before it ever blocks.
    size_t submit(Io* const* ios, size_t n);
    // Waits for an Io submitted without a CompletionQueue; returns its result.
    long wait(Io& io);

    // Tests only: let writes to a read-only disk reach the backend, whose refusal is then
    // what the caller sees.
    void set_readonly_check(bool on) { check_readonly_ = on; }

    // Counters for tests and benchmarks.
    struct Stats {
        uint64_t requests = 0;   // ring requests pushed
        uint64_t responses = 0;  // responses accepted
        uint64_t notifies = 0;   // event channel notifications sent
        uint64_t batches = 0;    // passes of the event handler that found responses
        uint64_t bad_responses = 0;
    };
    Stats stats() const;

  private:
    struct PoolPage;  // a persistently granted data page
    struct Page;      // one page a request uses
    struct Request;   // one ring request in flight
    enum class State : uint8_t { closed, connected, broken, gone };

    // Connection (blkfront.cpp).
    long connect(uint64_t deadline);
    long read_features();
    long read_geometry();
    long setup_ring();
    long publish_ring();
    void free_ring();
    static bool on_backend_gone(void* arg, long backend_state);
    void release_connection();

    // Requests (blkfront_ring.cpp).
    static void on_event(evtchn_port_t port, void* arg);
    long sync(Io& io);
    long check_io(const Io& io) const;
    long check_range(uint64_t sector, uint64_t nsectors) const;
    long state_error_locked() const;
    uint32_t part_bytes(const uint8_t* p, uint64_t left) const;
    long submit_one(Io& io, bool publish);
    long submit_part(Io& io, uint64_t sector, uint8_t* buf, uint32_t bytes, bool publish);
    long attach_pages(Request& r);
    static Page& request_page(Request& r, uint32_t i);
    long take_pool(Request& r);
    PoolPage* new_pool_page();
    long grant_pages(Request& r);
    static void fill_segments(Request& r);
    long push(Request& r, bool publish);
    void publish();
    void write_slot(const Request& r, uint32_t id);
    void handle_responses_locked();
    bool complete_locked(const blkif_response_t& rsp);
    long unsupported_locked(uint8_t data_op);
    static void copy_out(const Request& r);
    bool release_pages(Request& r);
    void fail_all_locked(long err);
    void finish_part(Io& io, long result);
    uint64_t space_epoch() const;
    void bump_space_epoch();
    void wait_for_space(uint64_t seen);
    void free_pool();

    xenbus::Frontend xb_{on_backend_gone, this};  // directories, event channel, handshake
    char name_[16] = {};
    uint32_t devid_ = 0;
    Info info_;
    bool check_readonly_ = true;
    bool frontend_persistent_ = true;

    // The ring: pages (contiguous), their grants (the event channel is xb_'s). lock_ guards the
    // ring indices, the requests in flight, the pool and state_; the event handler takes
    // it too (with events masked), so threads hold it through IrqSpinGuard.
    mutable SpinLock lock_;
    State state_ = State::closed;
    blkif_front_ring_t front_ = {};
    void* ring_ = nullptr;
    unsigned ring_order_ = 0;
    grant_ref_t ring_refs_[1u << kMaxRingPageOrder] = {};
    unsigned ring_granted_ = 0;
    Request** inflight_ = nullptr;  // by request id (the ring slot count of them)
    uint32_t* free_ids_ = nullptr;  // a stack of unused ids
    uint32_t nfree_ids_ = 0;
    PoolPage* pool_free_ = nullptr;  // LIFO, as blkif.h recommends
    PoolPage* pool_all_ = nullptr;
    uint32_t pool_size_ = 0;  // pages in the pool (or being added)
    uint32_t pool_cap_ = 0;
    uint32_t pool_free_count_ = 0;
    Stats stats_;

    uint64_t space_epoch_ = 0;  // bumped whenever slots, grants or pool pages come free
    WaitQueue space_wq_;        // submitters waiting for space_epoch_ to move
    WaitQueue done_wq_;         // wait() callers
};

}  // namespace pumice::blkfront
