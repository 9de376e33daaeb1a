// The block frontend's connection (pumice/blkfront.hpp): finding the vbd, the xenbus
// handshake with its backend, the ring and event channel it publishes, and the two ways a
// connection ends (close(), or the backend closing it: hot-unplug). Requests and
// responses are in blkfront_ring.cpp.
#include <pumice/blkfront.hpp>
#include <pumice/pumice.hpp>

#include <xen/io/protocols.h>

namespace pumice::blkfront {
namespace {

constexpr size_t kPathMax = 224;
constexpr uint64_t kCloseWaitNs = 5 * time::kNsPerSec;

// "<dir>/<node>" (false if it does not fit).
bool node_path(char* out, const char* dir, const char* node) {
    size_t n = snprintf(out, kPathMax, "%s/%s", dir, node);
    return n < kPathMax;
}

// A decimal node: 0, -XEN_ENOENT when absent, -XEN_EINVAL when not a number.
long read_u64(const char* dir, const char* node, uint64_t* out) {
    char path[kPathMax], text[24];
    if (!node_path(path, dir, node)) return -XEN_ENAMETOOLONG;
    long rc = xenstore::read(path, text, sizeof(text));
    if (rc < 0) return rc;
    if (rc == 0 || static_cast<size_t>(rc) >= sizeof(text)) return -XEN_EINVAL;
    uint64_t v = 0;
    for (const char* p = text; *p; ++p) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10) return -XEN_EINVAL;
        v = v * 10 + static_cast<uint64_t>(*p - '0');
    }
    *out = v;
    return 0;
}

// An optional node: its value, or `fallback` when absent or malformed.
uint64_t read_u64_or(const char* dir, const char* node, uint64_t fallback) {
    uint64_t v;
    return read_u64(dir, node, &v) == 0 ? v : fallback;
}

long write_u64(const char* dir, const char* node, uint64_t value, xenstore::Transaction t) {
    char path[kPathMax], text[24];
    if (!node_path(path, dir, node)) return -XEN_ENAMETOOLONG;
    snprintf(text, sizeof(text), "%llu", static_cast<unsigned long long>(value));
    return xenstore::write(path, text, t);
}

// Wakes a thread waiting for a node to change (see wait_backend_at_least).
struct StateWaiter {
    WaitQueue q;
    uint64_t fired = 0;
};

void on_state_node(const char*, void* arg) {
    auto* w = static_cast<StateWaiter*>(arg);
    w->q.notify_all([w] { ++w->fired; });
}

// The backend's state, with a removed directory read as Closed (the toolstack removes it
// after a detach).
long backend_state(const char* be_dir) {
    long s = xenbus::read_state(be_dir);
    return s == -XEN_ENOENT ? static_cast<long>(XenbusStateClosed) : s;
}

// The decimal number that ends `dir` ("device/vbd/51712"), 0 if none.
uint32_t trailing_number(const char* dir) {
    size_t end = strlen(dir), start = end;
    while (start > 0 && dir[start - 1] >= '0' && dir[start - 1] <= '9') --start;
    uint64_t v = 0;
    for (size_t i = start; i < end && v <= UINT32_MAX; ++i)
        v = v * 10 + static_cast<uint64_t>(dir[i] - '0');
    return v <= UINT32_MAX ? static_cast<uint32_t>(v) : 0;
}

void append_disk_letters(char* out, size_t size, uint32_t disk) {
    // Bijective base 26, as Linux and libxl name disks: a..z, aa..zz, ...
    char rev[8];
    unsigned n = 0;
    uint32_t d = disk + 1;
    while (d && n < sizeof(rev)) {
        --d;
        rev[n++] = static_cast<char>('a' + d % 26);
        d /= 26;
    }
    size_t len = strlen(out);
    while (n && len + 1 < size) out[len++] = rev[--n];
    out[len] = '\0';
}

}  // namespace

void devid_name(uint32_t devid, char* buf, size_t size) {
    if (!size) return;
    uint32_t disk, part;
    if (devid & (1u << 28)) {  // the extended encoding: 1 << 28 | disk << 8 | partition
        disk = (devid >> 8) & 0xfffff;
        part = devid & 0xff;
    } else if ((devid >> 8) == 202) {  // xvd: 202 << 8 | disk << 4 | partition
        disk = (devid >> 4) & 0xf;
        part = devid & 0xf;
    } else {
        snprintf(buf, size, "vbd-%u", devid);
        return;
    }
    strlcpy(buf, "xvd", size);
    append_disk_letters(buf, size, disk);
    if (part) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%u", part);
    }
}

long list(uint32_t* devids, size_t max) {
    constexpr size_t kNames = 2048;
    auto* names = static_cast<char*>(malloc(kNames));
    if (!names) return -XEN_ENOMEM;
    long n = xenstore::directory("device/vbd", names, kNames);
    size_t count = 0;
    const char* p = names;
    for (long i = 0; i < n; ++i, p += strlen(p) + 1) {
        uint64_t v = 0;
        bool ok = *p != '\0';
        for (const char* c = p; *c && ok; ++c) {
            ok = *c >= '0' && *c <= '9' && v <= UINT32_MAX / 10;
            v = v * 10 + static_cast<uint64_t>(*c - '0');
        }
        if (!ok || v > UINT32_MAX || count == max) continue;
        // Insertion sort: a handful of disks.
        size_t at = count++;
        while (at > 0 && devids[at - 1] > v) {
            devids[at] = devids[at - 1];
            --at;
        }
        devids[at] = static_cast<uint32_t>(v);
    }
    free(names);
    return n < 0 ? n : static_cast<long>(count);
}

Device::~Device() {
    close();
}

bool Device::connected() const {
    IrqSpinGuard guard(lock_);
    return state_ == State::connected;
}

long Device::open(uint32_t devid, uint64_t timeout_ns) {
    char dir[sizeof(dir_)];
    snprintf(dir, sizeof(dir), "device/vbd/%u", devid);
    return open(dir, timeout_ns);
}

long Device::open(const char* dir, uint64_t timeout_ns) {
    {
        IrqSpinGuard guard(lock_);
        if (state_ != State::closed) return -XEN_EBUSY;
    }
    if (!xenstore::available()) return -XEN_ENODEV;
    if (strlcpy(dir_, dir, sizeof(dir_)) >= sizeof(dir_)) return -XEN_ENAMETOOLONG;
    info_ = Info{};
    stats_ = Stats{};

    // The devid names the device on the ring (handle) and in messages.
    uint64_t vdev;
    if (read_u64(dir_, "virtual-device", &vdev) == 0 && vdev <= UINT32_MAX) {
        devid_ = static_cast<uint32_t>(vdev);
    } else {
        devid_ = trailing_number(dir_);
    }
    devid_name(devid_, name_, sizeof(name_));

    char path[kPathMax];
    if (!node_path(path, dir_, "backend")) return -XEN_ENAMETOOLONG;
    long rc = xenstore::read(path, be_dir_, sizeof(be_dir_));
    if (rc == -XEN_ENOENT) return -XEN_ENODEV;  // no such vbd (or not set up by a toolstack)
    if (rc < 0) return rc;
    if (rc == 0 || static_cast<size_t>(rc) >= sizeof(be_dir_)) return -XEN_EINVAL;
    uint64_t be_id = read_u64_or(dir_, "backend-id", 0);
    if (be_id >= DOMID_FIRST_RESERVED) return -XEN_EINVAL;
    be_id_ = static_cast<domid_t>(be_id);

    rc = connect(time::now_ns() + timeout_ns);
    if (rc < 0) {
        // Tell the backend we gave up, so it does not keep waiting for (or using) our ring.
        if (xenbus::read_state(dir_) >= 0) xenbus::switch_state(dir_, XenbusStateClosed);
        release_connection();
    }
    return rc;
}

// The handshake (blkif.h, "Startup"), from Initialising to Connected.
long Device::connect(uint64_t deadline) {
    long fe = xenbus::read_state(dir_);
    if (fe < 0) return fe == -XEN_ENOENT ? -XEN_ENODEV : fe;
    if (fe != XenbusStateInitialising) {
        // A reconnect after an earlier close(): start over, as Linux's frontend does.
        if (long rc = xenbus::switch_state(dir_, XenbusStateInitialising)) return rc;
    }
    long be = wait_backend_at_least(XenbusStateInitWait, deadline);
    if (be < 0) return be;
    if (be >= XenbusStateClosing) return -XEN_ENODEV;
    if (be == XenbusStateConnected) return -XEN_EBUSY;  // still connected to an older ring
    if (long rc = read_features()) return rc;
    if (long rc = setup_ring()) return rc;
    if (long rc = publish_ring()) return rc;
    if (long rc = xenbus::switch_state(dir_, XenbusStateInitialised)) return rc;
    be = wait_backend_at_least(XenbusStateConnected, deadline);
    if (be < 0) return be;
    if (be != XenbusStateConnected) return -XEN_ENODEV;
    if (long rc = read_geometry()) return rc;
    {
        IrqSpinGuard guard(lock_);
        state_ = State::connected;
    }
    char path[kPathMax];
    if (!node_path(path, be_dir_, "state")) return -XEN_ENAMETOOLONG;
    long id = xenstore::watch(path, on_backend_state, this);
    if (id < 0) return id;
    watch_id_ = id;
    return xenbus::switch_state(dir_, XenbusStateConnected);
}

// Transport parameters, read at InitWait: the ring size on offer.
long Device::read_features() {
    uint64_t order = read_u64_or(be_dir_, "max-ring-page-order", UINT64_MAX);
    if (order == UINT64_MAX) {
        // The deprecated form: a page count, a power of two.
        uint64_t pages = read_u64_or(be_dir_, "max-ring-pages", 1);
        for (order = 0; pages > 1 && order < 32; pages >>= 1) ++order;
    }
    ring_order_ = order < kMaxRingPageOrder ? static_cast<unsigned>(order) : kMaxRingPageOrder;
    return 0;
}

// Device properties, read once the backend is Connected (Linux's backend writes some of
// them only then).
long Device::read_geometry() {
    uint64_t sectors, sector_size;
    if (read_u64(be_dir_, "sectors", &sectors) || read_u64(be_dir_, "sector-size", &sector_size)) {
        printf("blkfront: %s: backend %s has no valid sectors/sector-size\n", name_, be_dir_);
        return -XEN_EINVAL;
    }
    // Without feature-large-sector-size (which Pumice does not offer) blkif.h requires 512.
    if (sector_size != kSectorSize) {
        printf("blkfront: %s: sector-size %llu is not 512\n", name_,
               static_cast<unsigned long long>(sector_size));
        return -XEN_EOPNOTSUPP;
    }
    info_.sectors = sectors;
    info_.sector_size = kSectorSize;
    info_.physical_sector_size =
        static_cast<uint32_t>(read_u64_or(be_dir_, "physical-sector-size", kSectorSize));
    info_.vdisk_info = static_cast<uint32_t>(read_u64_or(be_dir_, "info", 0));
    char mode[8] = "";
    char path[kPathMax];
    if (node_path(path, be_dir_, "mode")) xenstore::read(path, mode, sizeof(mode));
    info_.readonly = (info_.vdisk_info & VDISK_READONLY) || strcmp(mode, "r") == 0;
    info_.flush = read_u64_or(be_dir_, "feature-flush-cache", 0) != 0;
    info_.barrier = read_u64_or(be_dir_, "feature-barrier", 0) != 0;
    info_.discard = read_u64_or(be_dir_, "feature-discard", 0) != 0;
    info_.discard_secure = read_u64_or(be_dir_, "discard-secure", 0) != 0;
    info_.discard_granularity =
        static_cast<uint32_t>(read_u64_or(be_dir_, "discard-granularity", kSectorSize));
    info_.discard_alignment = static_cast<uint32_t>(read_u64_or(be_dir_, "discard-alignment", 0));
    info_.persistent = frontend_persistent_ && read_u64_or(be_dir_, "feature-persistent", 0) != 0;
    uint64_t indirect = read_u64_or(be_dir_, "feature-max-indirect-segments", 0);
    info_.max_indirect_segments =
        indirect > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(indirect);
    info_.segments_per_request = BLKIF_MAX_SEGMENTS_PER_REQUEST;
    if (indirect > BLKIF_MAX_SEGMENTS_PER_REQUEST)
        info_.segments_per_request = indirect < kMaxIndirectSegments
                                         ? static_cast<uint32_t>(indirect)
                                         : kMaxIndirectSegments;
    pool_cap_ = info_.persistent ? kMaxPersistentGrants : 0;
    return 0;
}

// The shared ring (1 << ring_order_ contiguous pages, each granted to the backend), an
// unbound event channel for the backend to bind, and the request-id tables.
long Device::setup_ring() {
    const unsigned pages = 1u << ring_order_;
    ring_ = mem::alloc_pages(pages);
    if (!ring_) return -XEN_ENOMEM;
    memset(ring_, 0, pages * mem::kPageSize);
    auto* sring = static_cast<blkif_sring_t*>(ring_);
    SHARED_RING_INIT(sring);
    FRONT_RING_INIT(&front_, sring, pages * mem::kPageSize);
    for (unsigned i = 0; i < pages; ++i) {
        auto pfn = reinterpret_cast<uintptr_t>(ring_) / mem::kPageSize + i;
        long ref = grant::grant_access(be_id_, pfn, false);
        if (ref < 0) return ref;
        ring_refs_[ring_granted_++] = static_cast<grant_ref_t>(ref);
    }
    evtchn_alloc_unbound_t op{};
    op.dom = DOMID_SELF;
    op.remote_dom = be_id_;
    if (long rc = hv::event_channel_op(EVTCHNOP_alloc_unbound, &op)) return rc;
    port_ = op.port;
    if (int rc = events::bind(port_, 0, on_event, this)) {
        evtchn_close_t close{port_};
        hv::event_channel_op(EVTCHNOP_close, &close);
        return rc;
    }
    port_bound_ = true;

    const uint32_t slots = RING_SIZE(&front_);
    info_.ring_pages = pages;
    info_.ring_slots = slots;
    inflight_ = static_cast<Request**>(calloc(slots, sizeof(Request*)));
    free_ids_ = static_cast<uint32_t*>(malloc(slots * sizeof(uint32_t)));
    if (!inflight_ || !free_ids_) return -XEN_ENOMEM;
    for (uint32_t i = 0; i < slots; ++i) free_ids_[i] = slots - 1 - i;  // id 0 first
    nfree_ids_ = slots;
    return 0;
}

// Writes the transport parameters in one transaction (rewritten whole on a conflict).
long Device::publish_ring() {
    return xenstore::transaction([this](xenstore::Transaction t) -> long {
        long rc;
        if (ring_order_ == 0) {
            rc = write_u64(dir_, "ring-ref", ring_refs_[0], t);
        } else {
            rc = write_u64(dir_, "ring-page-order", ring_order_, t);
            for (unsigned i = 0; rc == 0 && i < ring_granted_; ++i) {
                char node[16];
                snprintf(node, sizeof(node), "ring-ref%u", i);
                rc = write_u64(dir_, node, ring_refs_[i], t);
            }
        }
        if (rc == 0) rc = write_u64(dir_, "event-channel", port_, t);
        char path[kPathMax];
        if (rc == 0)
            rc = node_path(path, dir_, "protocol")
                     ? xenstore::write(path, XEN_IO_PROTO_ABI_X86_64, t)
                     : -XEN_ENAMETOOLONG;
        if (rc == 0) rc = write_u64(dir_, "feature-persistent", frontend_persistent_ ? 1 : 0, t);
        return rc;
    });
}

// Waits until the backend's state is at least `state` (a removed directory counts as
// Closed): returns that state, or a negative Xen errno (-XEN_ETIMEDOUT at the deadline).
long Device::wait_backend_at_least(long state, uint64_t deadline) {
    char path[kPathMax];
    if (!node_path(path, be_dir_, "state")) return -XEN_ENAMETOOLONG;
    StateWaiter w;
    long id = xenstore::watch(path, on_state_node, &w);
    if (id < 0) return id;
    long rc;
    for (;;) {
        uint64_t seen = __atomic_load_n(&w.fired, __ATOMIC_ACQUIRE);
        rc = backend_state(be_dir_);
        if (rc < 0 || rc >= state) break;
        // No timed wait on a WaitQueue: sleep in short slices until a change or the deadline.
        while (__atomic_load_n(&w.fired, __ATOMIC_ACQUIRE) == seen && time::now_ns() < deadline)
            sleep_ns(time::kNsPerMs);
        if (__atomic_load_n(&w.fired, __ATOMIC_ACQUIRE) == seen) {
            rc = -XEN_ETIMEDOUT;
            break;
        }
    }
    xenstore::unwatch(id);
    return rc;
}

void Device::on_backend_state(const char*, void* arg) {
    auto* dev = static_cast<Device*>(arg);
    __atomic_add_fetch(&dev->watch_busy_, 1, __ATOMIC_ACQ_REL);
    dev->backend_state_changed();
    __atomic_sub_fetch(&dev->watch_busy_, 1, __ATOMIC_ACQ_REL);
}

// The backend (or the toolstack for it) closing a connected device: hot-unplug. Runs on
// the xenstore watch thread, so it may use xenstore but never wait for a watch event.
void Device::backend_state_changed() {
    long s = backend_state(be_dir_);
    if (s >= 0 && s < XenbusStateClosing) return;
    uint32_t failed = 0;
    {
        IrqSpinGuard guard(lock_);
        if (state_ != State::connected && state_ != State::broken) return;
        if (state_ == State::connected) handle_responses_locked();  // take what is done
        failed = info_.ring_slots - nfree_ids_;
        fail_all_locked(-XEN_ENODEV);
        state_ = State::gone;
    }
    printf("blkfront: %s: backend is %s: device gone, %u requests failed\n", name_,
           s < 0 ? "unreadable" : xenbus::state_name(s), failed);
    // Closing then Closed, as Linux's frontend does when it has no users left; but never
    // recreate a directory the toolstack has removed.
    if (xenbus::read_state(dir_) >= 0) xenbus::switch_state(dir_, XenbusStateClosing);
    if (xenbus::read_state(dir_) >= 0) xenbus::switch_state(dir_, XenbusStateClosed);
}

long Device::close() {
    {
        IrqSpinGuard guard(lock_);
        if (state_ == State::closed) return 0;
    }
    if (watch_id_ > 0) {
        xenstore::unwatch(watch_id_);
        watch_id_ = 0;
    }
    // A hot-unplug callback already running finishes first (it uses this object).
    while (__atomic_load_n(&watch_busy_, __ATOMIC_ACQUIRE)) sleep_ns(time::kNsPerMs);

    // Let requests in flight finish (a while), then fail whatever is left.
    uint64_t deadline = time::now_ns() + kCloseWaitNs;
    for (;;) {
        {
            IrqSpinGuard guard(lock_);
            if (state_ != State::connected || nfree_ids_ == info_.ring_slots) {
                fail_all_locked(-XEN_ENODEV);
                if (state_ != State::broken) state_ = State::gone;
                break;
            }
        }
        if (time::now_ns() >= deadline) {
            IrqSpinGuard guard(lock_);
            fail_all_locked(-XEN_ENODEV);
            state_ = State::gone;
            break;
        }
        sleep_ns(time::kNsPerMs);
    }

    long rc = 0;
    if (xenbus::read_state(dir_) >= 0) {
        deadline = time::now_ns() + kCloseWaitNs;
        if (backend_state(be_dir_) < XenbusStateClosing) {
            xenbus::switch_state(dir_, XenbusStateClosing);
            long s = wait_backend_at_least(XenbusStateClosing, deadline);
            if (s < 0) rc = s;
        }
        if (xenbus::read_state(dir_) >= 0) xenbus::switch_state(dir_, XenbusStateClosed);
        long s = wait_backend_at_least(XenbusStateClosed, deadline);
        if (s < 0 && rc == 0) rc = s;
    }
    release_connection();
    return rc;
}

// Frees what a connection (or a failed open) holds: the event channel, the persistent
// pool, the ring. Grants the backend still uses are reported and their pages kept.
void Device::release_connection() {
    if (watch_id_ > 0) {
        xenstore::unwatch(watch_id_);
        watch_id_ = 0;
    }
    while (__atomic_load_n(&watch_busy_, __ATOMIC_ACQUIRE)) sleep_ns(time::kNsPerMs);
    {
        IrqSpinGuard guard(lock_);
        fail_all_locked(-XEN_ENODEV);
        state_ = State::closed;
    }
    if (port_bound_) {
        events::unbind(port_);
        evtchn_close_t op{port_};
        hv::event_channel_op(EVTCHNOP_close, &op);
        port_bound_ = false;
    }
    free_pool();
    free_ring();
}

void Device::free_ring() {
    bool leaked = false;
    for (unsigned i = 0; i < ring_granted_; ++i) {
        if (grant::end_access(ring_refs_[i]) < 0) leaked = true;
    }
    ring_granted_ = 0;
    if (ring_ && leaked) {
        printf("blkfront: %s: backend still maps the ring; its pages are not reused\n", name_);
    } else if (ring_) {
        mem::free_pages(ring_, 1u << ring_order_);
    }
    ring_ = nullptr;
    front_ = blkif_front_ring_t{};
    free(inflight_);
    free(free_ids_);
    inflight_ = nullptr;
    free_ids_ = nullptr;
    nfree_ids_ = 0;
}

}  // namespace pumice::blkfront
