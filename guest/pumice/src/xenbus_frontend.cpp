// The frontend half of a split driver's xenbus connection (pumice/xenbus_frontend.hpp).
#include <pumice/pumice.hpp>
#include <pumice/xenbus_frontend.hpp>

namespace pumice::xenbus {
namespace {

constexpr uint64_t kCloseWaitNs = 5 * time::kNsPerSec;

// Wakes a thread waiting for a node to change (see wait_backend_at_least).
struct StateWaiter {
    WaitQueue q;
    uint64_t fired = 0;
};

void on_state_node(const char*, void* arg) {
    auto* w = static_cast<StateWaiter*>(arg);
    w->q.notify_all([w] { ++w->fired; });
}

}  // namespace

bool node_path(char* out, const char* dir, const char* node) {
    size_t n = snprintf(out, kNodePathMax, "%s/%s", dir, node);
    return n < kNodePathMax;
}

long read_u64(const char* dir, const char* node, uint64_t* out) {
    char path[kNodePathMax], text[24];
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

long write_u64(const char* dir, const char* node, uint64_t value, Transaction t) {
    char path[kNodePathMax], text[24];
    if (!node_path(path, dir, node)) return -XEN_ENAMETOOLONG;
    snprintf(text, sizeof(text), "%llu", static_cast<unsigned long long>(value));
    return xenstore::write(path, text, t);
}

uint32_t trailing_number(const char* dir) {
    size_t end = strlen(dir), start = end;
    while (start > 0 && dir[start - 1] >= '0' && dir[start - 1] <= '9') --start;
    uint64_t v = 0;
    for (size_t i = start; i < end && v <= UINT32_MAX; ++i)
        v = v * 10 + static_cast<uint64_t>(dir[i] - '0');
    return v <= UINT32_MAX ? static_cast<uint32_t>(v) : 0;
}

long list_devices(const char* dir, uint32_t* devids, size_t max) {
    constexpr size_t kNames = 2048;
    auto* names = static_cast<char*>(malloc(kNames));
    if (!names) return -XEN_ENOMEM;
    long n = xenstore::directory(dir, names, kNames);
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
        size_t at = count++;  // insertion sort: a handful of devices
        while (at > 0 && devids[at - 1] > v) {
            devids[at] = devids[at - 1];
            --at;
        }
        devids[at] = static_cast<uint32_t>(v);
    }
    free(names);
    return n < 0 ? n : static_cast<long>(count);
}

long Frontend::set_dir(const char* dir) {
    return strlcpy(dir_, dir, sizeof(dir_)) >= sizeof(dir_) ? -XEN_ENAMETOOLONG : 0;
}

long Frontend::read_backend() {
    char path[kNodePathMax];
    if (!node_path(path, dir_, "backend")) return -XEN_ENAMETOOLONG;
    long rc = xenstore::read(path, be_dir_, sizeof(be_dir_));
    if (rc == -XEN_ENOENT) return -XEN_ENODEV;  // no such device (or not set up by a toolstack)
    if (rc < 0) return rc;
    if (rc == 0 || static_cast<size_t>(rc) >= sizeof(be_dir_)) return -XEN_EINVAL;
    uint64_t be_id = read_u64_or(dir_, "backend-id", 0);
    if (be_id >= DOMID_FIRST_RESERVED) return -XEN_EINVAL;
    be_id_ = static_cast<domid_t>(be_id);
    return 0;
}

// blkif.h and netif.h, "Startup": up to the point where the frontend sets up its rings.
long Frontend::begin(uint64_t deadline) {
    long fe = read_state(dir_);
    if (fe < 0) return fe == -XEN_ENOENT ? -XEN_ENODEV : fe;
    if (fe != XenbusStateInitialising) {
        // A reconnect after an earlier close(): start over, as Linux's frontends do.
        if (long rc = switch_state(dir_, XenbusStateInitialising)) return rc;
    }
    long be = wait_backend_at_least(XenbusStateInitWait, deadline);
    if (be < 0) return be;
    if (be >= XenbusStateClosing) return -XEN_ENODEV;
    if (be == XenbusStateConnected) return -XEN_EBUSY;  // still connected to older rings
    return 0;
}

long Frontend::bind_event_channel(events::Handler handler, void* arg) {
    evtchn_alloc_unbound_t op{};
    op.dom = DOMID_SELF;
    op.remote_dom = be_id_;
    if (long rc = hv::event_channel_op(EVTCHNOP_alloc_unbound, &op)) return rc;
    port_ = op.port;
    if (int rc = events::bind(port_, 0, handler, arg)) {
        evtchn_close_t close{port_};
        hv::event_channel_op(EVTCHNOP_close, &close);
        return rc;
    }
    port_bound_ = true;
    return 0;
}

long Frontend::initialised(uint64_t deadline) {
    if (long rc = switch_state(dir_, XenbusStateInitialised)) return rc;
    long be = wait_backend_at_least(XenbusStateConnected, deadline);
    if (be < 0) return be;
    return be == XenbusStateConnected ? 0 : -XEN_ENODEV;
}

long Frontend::connected() {
    char path[kNodePathMax];
    if (!node_path(path, be_dir_, "state")) return -XEN_ENAMETOOLONG;
    long id = xenstore::watch(path, on_backend_state, this);
    if (id < 0) return id;
    watch_id_ = id;
    return switch_state(dir_, XenbusStateConnected);
}

void Frontend::stop_watch() {
    if (watch_id_ > 0) {
        xenstore::unwatch(watch_id_);
        watch_id_ = 0;
    }
    while (__atomic_load_n(&watch_busy_, __ATOMIC_ACQUIRE)) sleep_ns(time::kNsPerMs);
}

long Frontend::close_handshake() {
    if (read_state(dir_) < 0) return 0;  // the toolstack removed the device
    long rc = 0;
    uint64_t deadline = time::now_ns() + kCloseWaitNs;
    if (backend_state() < XenbusStateClosing) {
        switch_state(dir_, XenbusStateClosing);
        long s = wait_backend_at_least(XenbusStateClosing, deadline);
        if (s < 0) rc = s;
    }
    if (read_state(dir_) >= 0) switch_state(dir_, XenbusStateClosed);
    long s = wait_backend_at_least(XenbusStateClosed, deadline);
    if (s < 0 && rc == 0) rc = s;
    return rc;
}

void Frontend::give_up() {
    if (read_state(dir_) >= 0) switch_state(dir_, XenbusStateClosed);
}

void Frontend::free_event_channel() {
    if (!port_bound_) return;
    events::unbind(port_);
    evtchn_close_t op{port_};
    hv::event_channel_op(EVTCHNOP_close, &op);
    port_bound_ = false;
}

// The backend's state, with a removed directory read as Closed (the toolstack removes it
// after a detach).
long Frontend::backend_state() const {
    long s = read_state(be_dir_);
    return s == -XEN_ENOENT ? static_cast<long>(XenbusStateClosed) : s;
}

// Waits until the backend's state is at least `state` (a removed directory counts as
// Closed): returns that state, or a negative Xen errno (-XEN_ETIMEDOUT at the deadline).
long Frontend::wait_backend_at_least(long state, uint64_t deadline) {
    char path[kNodePathMax];
    if (!node_path(path, be_dir_, "state")) return -XEN_ENAMETOOLONG;
    StateWaiter w;
    long id = xenstore::watch(path, on_state_node, &w);
    if (id < 0) return id;
    long rc;
    for (;;) {
        uint64_t seen = __atomic_load_n(&w.fired, __ATOMIC_ACQUIRE);
        rc = backend_state();
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

// The backend (or the toolstack for it) closing a connected device: hot-unplug. Runs on
// the xenstore watch thread.
void Frontend::on_backend_state(const char*, void* arg) {
    auto* fe = static_cast<Frontend*>(arg);
    __atomic_add_fetch(&fe->watch_busy_, 1, __ATOMIC_ACQ_REL);
    long s = fe->backend_state();
    if ((s < 0 || s >= XenbusStateClosing) && fe->on_gone_(fe->gone_arg_, s)) fe->close_own_side();
    __atomic_sub_fetch(&fe->watch_busy_, 1, __ATOMIC_ACQ_REL);
}

// Closing then Closed, as Linux's frontends do when they have no users left; but never
// recreate a directory the toolstack has removed.
void Frontend::close_own_side() {
    if (read_state(dir_) >= 0) switch_state(dir_, XenbusStateClosing);
    if (read_state(dir_) >= 0) switch_state(dir_, XenbusStateClosed);
}

}  // namespace pumice::xenbus
