// The network frontend's connection (pumice/netfront.hpp): finding the vif, the xenbus
// handshake with its backend, the two rings and the event channel it publishes, and the two
// ways a connection ends (close(), or the backend closing it: hot-unplug). Frames are in
// netfront_ring.cpp.
#include <pumice/netfront.hpp>
#include <pumice/pumice.hpp>

namespace pumice::netfront {
namespace {

constexpr size_t kPathMax = 224;
constexpr uint64_t kCloseWaitNs = 5 * time::kNsPerSec;

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

// The backend's state, with a removed directory read as Closed.
long backend_state(const char* be_dir) {
    long s = xenbus::read_state(be_dir);
    return s == -XEN_ENOENT ? static_cast<long>(XenbusStateClosed) : s;
}

uint32_t trailing_number(const char* dir) {
    size_t end = strlen(dir), start = end;
    while (start > 0 && dir[start - 1] >= '0' && dir[start - 1] <= '9') --start;
    uint64_t v = 0;
    for (size_t i = start; i < end && v <= UINT32_MAX; ++i)
        v = v * 10 + static_cast<uint64_t>(dir[i] - '0');
    return v <= UINT32_MAX ? static_cast<uint32_t>(v) : 0;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

bool parse_mac(const char* text, net::MacAddress* out) {
    net::MacAddress mac;
    for (unsigned i = 0; i < 6; ++i) {
        const char* p = text + 3 * i;
        int hi = hex_digit(p[0]);
        int lo = hi < 0 ? -1 : hex_digit(p[1]);
        char sep = lo < 0 ? 'x' : p[2];
        if (lo < 0 || sep != (i == 5 ? '\0' : ':')) return false;
        mac.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    *out = mac;
    return true;
}

long list(uint32_t* devids, size_t max) {
    constexpr size_t kNames = 1024;
    auto* names = static_cast<char*>(malloc(kNames));
    if (!names) return -XEN_ENOMEM;
    long n = xenstore::directory("device/vif", names, kNames);
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
        size_t at = count++;  // insertion sort: a handful of vifs
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
    return state() == State::connected;
}

void Device::attach(net::Interface& interface) {
    IrqSpinGuard guard(rx_lock_);
    interface_ = &interface;
}

long Device::open(uint32_t devid, uint64_t timeout_ns) {
    char dir[sizeof(dir_)];
    snprintf(dir, sizeof(dir), "device/vif/%u", devid);
    return open(dir, timeout_ns);
}

long Device::open(const char* dir, uint64_t timeout_ns) {
    if (state() != State::closed) return -XEN_EBUSY;
    if (!xenstore::available()) return -XEN_ENODEV;
    if (strlcpy(dir_, dir, sizeof(dir_)) >= sizeof(dir_)) return -XEN_ENAMETOOLONG;
    stats_ = Stats{};
    if (long rc = read_frontend()) return rc;
    long rc = connect(time::now_ns() + timeout_ns);
    if (rc < 0) {
        // Tell the backend we gave up, so it does not keep waiting for (or using) our rings.
        if (xenbus::read_state(dir_) >= 0) xenbus::switch_state(dir_, XenbusStateClosed);
        release_connection();
    }
    return rc;
}

// What the toolstack wrote for us: the backend's directory and id, our MAC.
long Device::read_frontend() {
    uint64_t handle;
    devid_ = read_u64(dir_, "handle", &handle) == 0 && handle <= UINT32_MAX
                 ? static_cast<uint32_t>(handle)
                 : trailing_number(dir_);
    snprintf(name_, sizeof(name_), "vif%u", devid_);

    char path[kPathMax];
    if (!node_path(path, dir_, "backend")) return -XEN_ENAMETOOLONG;
    long rc = xenstore::read(path, be_dir_, sizeof(be_dir_));
    if (rc == -XEN_ENOENT) return -XEN_ENODEV;  // no such vif (or not set up by a toolstack)
    if (rc < 0) return rc;
    if (rc == 0 || static_cast<size_t>(rc) >= sizeof(be_dir_)) return -XEN_EINVAL;
    uint64_t be_id = read_u64_or(dir_, "backend-id", 0);
    if (be_id >= DOMID_FIRST_RESERVED) return -XEN_EINVAL;
    be_id_ = static_cast<domid_t>(be_id);

    char mac[24];
    if (!node_path(path, dir_, "mac")) return -XEN_ENAMETOOLONG;
    rc = xenstore::read(path, mac, sizeof(mac));
    if (rc < 0 || !parse_mac(mac, &mac_)) {
        printf("netfront: %s: no valid mac in %s (rc=%ld)\n", name_, path, rc < 0 ? rc : 0);
        return -XEN_EINVAL;
    }
    return 0;
}

// The handshake (netif.h, "Startup"), from Initialising to Connected.
long Device::connect(uint64_t deadline) {
    long fe = xenbus::read_state(dir_);
    if (fe < 0) return fe == -XEN_ENOENT ? -XEN_ENODEV : fe;
    if (fe != XenbusStateInitialising) {
        if (long rc = xenbus::switch_state(dir_, XenbusStateInitialising)) return rc;
    }
    long be = wait_backend_at_least(XenbusStateInitWait, deadline);
    if (be < 0) return be;
    if (be >= XenbusStateClosing) return -XEN_ENODEV;
    if (be == XenbusStateConnected) return -XEN_EBUSY;  // still connected to older rings
    // netif.h: without feature-rx-copy the backend could only flip pages, which Pumice
    // does not do.
    if (read_u64_or(be_dir_, "feature-rx-copy", 0) == 0) {
        printf("netfront: %s: backend %s does not offer feature-rx-copy\n", name_, be_dir_);
        return -XEN_EOPNOTSUPP;
    }
    backend_sg_ = read_u64_or(be_dir_, "feature-sg", 0) != 0;
    if (long rc = setup_rings()) return rc;
    if (long rc = publish()) return rc;
    if (long rc = xenbus::switch_state(dir_, XenbusStateInitialised)) return rc;
    be = wait_backend_at_least(XenbusStateConnected, deadline);
    if (be < 0) return be;
    if (be != XenbusStateConnected) return -XEN_ENODEV;
    set_state(State::connected);
    char path[kPathMax];
    if (!node_path(path, be_dir_, "state")) return -XEN_ENAMETOOLONG;
    long id = xenstore::watch(path, on_backend_state, this);
    if (id < 0) return id;
    watch_id_ = id;
    if (long rc = xenbus::switch_state(dir_, XenbusStateConnected)) return rc;
    // The backend may have answered (or closed) before the handler could see it.
    on_event(port_, this);
    return 0;
}

// Both rings (a page each, granted to the backend), an unbound event channel for the
// backend to bind, and the receive ring filled with buffers.
long Device::setup_rings() {
    rx_ring_page_ = mem::alloc_pages(1);
    tx_ring_page_ = mem::alloc_pages(1);
    if (!rx_ring_page_ || !tx_ring_page_) return -XEN_ENOMEM;
    memset(rx_ring_page_, 0, mem::kPageSize);
    memset(tx_ring_page_, 0, mem::kPageSize);
    auto* rx_sring = static_cast<netif_rx_sring_t*>(rx_ring_page_);
    auto* tx_sring = static_cast<netif_tx_sring_t*>(tx_ring_page_);
    SHARED_RING_INIT(rx_sring);
    SHARED_RING_INIT(tx_sring);
    FRONT_RING_INIT(&rx_, rx_sring, mem::kPageSize);
    FRONT_RING_INIT(&tx_, tx_sring, mem::kPageSize);

    long ref = grant::grant_access(be_id_, reinterpret_cast<uintptr_t>(rx_ring_page_) >> 12, false);
    if (ref < 0) return ref;
    rx_ring_ref_ = static_cast<grant_ref_t>(ref);
    rx_ring_granted_ = true;
    ref = grant::grant_access(be_id_, reinterpret_cast<uintptr_t>(tx_ring_page_) >> 12, false);
    if (ref < 0) return ref;
    tx_ring_ref_ = static_cast<grant_ref_t>(ref);
    tx_ring_granted_ = true;

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
    if (long rc = init_tx_slots()) return rc;
    return fill_rx_ring();
}

// The transport parameters, in one transaction (rewritten whole on a conflict).
long Device::publish() {
    return xenstore::transaction([this](xenstore::Transaction t) -> long {
        long rc = write_u64(dir_, "tx-ring-ref", tx_ring_ref_, t);
        if (rc == 0) rc = write_u64(dir_, "rx-ring-ref", rx_ring_ref_, t);
        if (rc == 0) rc = write_u64(dir_, "event-channel", port_, t);
        if (rc == 0) rc = write_u64(dir_, "request-rx-copy", 1, t);
        // We post receive buffers promptly and notify when the backend asks (req_event).
        if (rc == 0) rc = write_u64(dir_, "feature-rx-notify", 1, t);
        // Received frames may span several slots (gathered in rx_frame_).
        if (rc == 0) rc = write_u64(dir_, "feature-sg", 1, t);
        // lwIP checks and computes every checksum itself.
        if (rc == 0) rc = write_u64(dir_, "feature-no-csum-offload", 1, t);
        return rc;
    });
}

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

// The backend (or the toolstack for it) closing a connected vif: hot-unplug. Runs on the
// xenstore watch thread: it may use xenstore but never wait for a watch event. The stack's
// interface stays; transmit() drops from now on.
void Device::backend_state_changed() {
    long s = backend_state(be_dir_);
    if (s >= 0 && s < XenbusStateClosing) return;
    State was = state();
    if (was != State::connected && was != State::broken) return;
    set_state(State::gone);
    printf("netfront: %s: backend is %s: device gone\n", name_,
           s < 0 ? "unreadable" : xenbus::state_name(s));
    if (xenbus::read_state(dir_) >= 0) xenbus::switch_state(dir_, XenbusStateClosing);
    if (xenbus::read_state(dir_) >= 0) xenbus::switch_state(dir_, XenbusStateClosed);
}

long Device::close() {
    if (state() == State::closed) return 0;
    if (watch_id_ > 0) {
        xenstore::unwatch(watch_id_);
        watch_id_ = 0;
    }
    while (__atomic_load_n(&watch_busy_, __ATOMIC_ACQUIRE)) sleep_ns(time::kNsPerMs);
    if (state() != State::broken) set_state(State::gone);
    long rc = 0;
    if (xenbus::read_state(dir_) >= 0) {
        uint64_t deadline = time::now_ns() + kCloseWaitNs;
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

// Frees what a connection (or a failed open) holds: the event channel, the buffers and
// their grants, the rings. Pages the backend still has granted are reported and kept.
void Device::release_connection() {
    if (watch_id_ > 0) {
        xenstore::unwatch(watch_id_);
        watch_id_ = 0;
    }
    while (__atomic_load_n(&watch_busy_, __ATOMIC_ACQUIRE)) sleep_ns(time::kNsPerMs);
    set_state(State::closed);
    // A handler already past its state check finishes before the buffers go.
    { IrqSpinGuard rx(rx_lock_); }
    { IrqSpinGuard tx(tx_lock_); }
    if (port_bound_) {
        events::unbind(port_);
        evtchn_close_t op{port_};
        hv::event_channel_op(EVTCHNOP_close, &op);
        port_bound_ = false;
    }
    end_all_grants();
    free_rings();
}

void Device::free_rings() {
    bool leaked = false;
    if (rx_ring_granted_ && grant::end_access(rx_ring_ref_) < 0) leaked = true;
    if (tx_ring_granted_ && grant::end_access(tx_ring_ref_) < 0) leaked = true;
    rx_ring_granted_ = tx_ring_granted_ = false;
    if (leaked) {
        printf("netfront: %s: backend still maps a ring; its pages are not reused\n", name_);
    } else {
        if (rx_ring_page_) mem::free_pages(rx_ring_page_, 1);
        if (tx_ring_page_) mem::free_pages(tx_ring_page_, 1);
    }
    rx_ring_page_ = tx_ring_page_ = nullptr;
    rx_ = netif_rx_front_ring_t{};
    tx_ = netif_tx_front_ring_t{};
}

}  // namespace pumice::netfront
