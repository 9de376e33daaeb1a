// The block frontend's connection (pumice/blkfront.hpp): finding the vbd, the xenbus
// handshake with its backend, the ring and event channel it publishes, and the two ways a
// connection ends (close(), or the backend closing it: hot-unplug). Requests and
// responses are in blkfront_ring.cpp.
#include <pumice/blkfront.hpp>
#include <pumice/pumice.hpp>

#include <xen/io/protocols.h>

namespace pumice::blkfront {
namespace {

using xenbus::read_u64;
using xenbus::read_u64_or;
using xenbus::write_u64;

constexpr uint64_t kCloseWaitNs = 5 * time::kNsPerSec;

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
    return xenbus::list_devices("device/vbd", devids, max);
}

Device::~Device() {
    close();
}

bool Device::connected() const {
    IrqSpinGuard guard(lock_);
    return state_ == State::connected;
}

long Device::open(uint32_t devid, uint64_t timeout_ns) {
    char dir[xenbus::kFrontendDirMax];
    snprintf(dir, sizeof(dir), "device/vbd/%u", devid);
    return open(dir, timeout_ns);
}

long Device::open(const char* dir, uint64_t timeout_ns) {
    {
        IrqSpinGuard guard(lock_);
        if (state_ != State::closed) return -XEN_EBUSY;
    }
    if (!xenstore::available()) return -XEN_ENODEV;
    if (long rc = xb_.set_dir(dir)) return rc;
    info_ = Info{};
    stats_ = Stats{};

    // The devid names the device on the ring (handle) and in messages.
    uint64_t vdev;
    if (read_u64(xb_.dir(), "virtual-device", &vdev) == 0 && vdev <= UINT32_MAX) {
        devid_ = static_cast<uint32_t>(vdev);
    } else {
        devid_ = xenbus::trailing_number(xb_.dir());
    }
    devid_name(devid_, name_, sizeof(name_));
    if (long rc = xb_.read_backend()) return rc;

    long rc = connect(time::now_ns() + timeout_ns);
    if (rc < 0) {
        xb_.give_up();
        release_connection();
    }
    return rc;
}

// The handshake (blkif.h, "Startup"), from Initialising to Connected.
long Device::connect(uint64_t deadline) {
    if (long rc = xb_.begin(deadline)) return rc;
    if (long rc = read_features()) return rc;
    if (long rc = setup_ring()) return rc;
    if (long rc = publish_ring()) return rc;
    if (long rc = xb_.initialised(deadline)) return rc;
    if (long rc = read_geometry()) return rc;
    {
        IrqSpinGuard guard(lock_);
        state_ = State::connected;
    }
    return xb_.connected();
}

// Transport parameters, read at InitWait: the ring size on offer.
long Device::read_features() {
    const char* be_dir = xb_.backend_dir();
    uint64_t order = read_u64_or(be_dir, "max-ring-page-order", UINT64_MAX);
    if (order == UINT64_MAX) {
        // The deprecated form: a page count, a power of two.
        uint64_t pages = read_u64_or(be_dir, "max-ring-pages", 1);
        for (order = 0; pages > 1 && order < 32; pages >>= 1) ++order;
    }
    ring_order_ = order < kMaxRingPageOrder ? static_cast<unsigned>(order) : kMaxRingPageOrder;
    return 0;
}

// Device properties, read once the backend is Connected (Linux's backend writes some of
// them only then).
long Device::read_geometry() {
    const char* be_dir = xb_.backend_dir();
    uint64_t sectors, sector_size;
    if (read_u64(be_dir, "sectors", &sectors) || read_u64(be_dir, "sector-size", &sector_size)) {
        printf("blkfront: %s: backend %s has no valid sectors/sector-size\n", name_, be_dir);
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
        static_cast<uint32_t>(read_u64_or(be_dir, "physical-sector-size", kSectorSize));
    info_.vdisk_info = static_cast<uint32_t>(read_u64_or(be_dir, "info", 0));
    char mode[8] = "";
    char path[xenbus::kNodePathMax];
    if (xenbus::node_path(path, be_dir, "mode")) xenstore::read(path, mode, sizeof(mode));
    info_.readonly = (info_.vdisk_info & VDISK_READONLY) || strcmp(mode, "r") == 0;
    info_.flush = read_u64_or(be_dir, "feature-flush-cache", 0) != 0;
    info_.barrier = read_u64_or(be_dir, "feature-barrier", 0) != 0;
    info_.discard = read_u64_or(be_dir, "feature-discard", 0) != 0;
    info_.discard_secure = read_u64_or(be_dir, "discard-secure", 0) != 0;
    info_.discard_granularity =
        static_cast<uint32_t>(read_u64_or(be_dir, "discard-granularity", kSectorSize));
    info_.discard_alignment = static_cast<uint32_t>(read_u64_or(be_dir, "discard-alignment", 0));
    info_.persistent = frontend_persistent_ && read_u64_or(be_dir, "feature-persistent", 0) != 0;
    uint64_t indirect = read_u64_or(be_dir, "feature-max-indirect-segments", 0);
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
        long ref = grant::grant_access(xb_.backend_id(), pfn, false);
        if (ref < 0) return ref;
        ring_refs_[ring_granted_++] = static_cast<grant_ref_t>(ref);
    }
    if (long rc = xb_.bind_event_channel(on_event, this)) return rc;

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
    const char* dir = xb_.dir();
    return xenstore::transaction([this, dir](xenstore::Transaction t) -> long {
        long rc;
        if (ring_order_ == 0) {
            rc = write_u64(dir, "ring-ref", ring_refs_[0], t);
        } else {
            rc = write_u64(dir, "ring-page-order", ring_order_, t);
            for (unsigned i = 0; rc == 0 && i < ring_granted_; ++i) {
                char node[16];
                snprintf(node, sizeof(node), "ring-ref%u", i);
                rc = write_u64(dir, node, ring_refs_[i], t);
            }
        }
        if (rc == 0) rc = write_u64(dir, "event-channel", xb_.port(), t);
        char path[xenbus::kNodePathMax];
        if (rc == 0)
            rc = xenbus::node_path(path, dir, "protocol")
                     ? xenstore::write(path, XEN_IO_PROTO_ABI_X86_64, t)
                     : -XEN_ENAMETOOLONG;
        if (rc == 0) rc = write_u64(dir, "feature-persistent", frontend_persistent_ ? 1 : 0, t);
        return rc;
    });
}

// The backend (or the toolstack for it) closing a connected device: hot-unplug. Runs on
// the xenstore watch thread (see xenbus::Frontend::GoneFn).
bool Device::on_backend_gone(void* arg, long backend_state) {
    auto* dev = static_cast<Device*>(arg);
    uint32_t failed = 0;
    {
        IrqSpinGuard guard(dev->lock_);
        if (dev->state_ != State::connected && dev->state_ != State::broken) return false;
        if (dev->state_ == State::connected) dev->handle_responses_locked();  // take what is done
        failed = dev->info_.ring_slots - dev->nfree_ids_;
        dev->fail_all_locked(-XEN_ENODEV);
        dev->state_ = State::gone;
    }
    printf("blkfront: %s: backend is %s: device gone, %u requests failed\n", dev->name_,
           backend_state < 0 ? "unreadable" : xenbus::state_name(backend_state), failed);
    return true;
}

long Device::close() {
    {
        IrqSpinGuard guard(lock_);
        if (state_ == State::closed) return 0;
    }
    // A hot-unplug callback already running finishes first (it uses this object).
    xb_.stop_watch();

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

    long rc = xb_.close_handshake();
    release_connection();
    return rc;
}

// Frees what a connection (or a failed open) holds: the event channel, the persistent
// pool, the ring. Grants the backend still uses are reported and their pages kept.
void Device::release_connection() {
    xb_.stop_watch();
    {
        IrqSpinGuard guard(lock_);
        fail_all_locked(-XEN_ENODEV);
        state_ = State::closed;
    }
    xb_.free_event_channel();
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
