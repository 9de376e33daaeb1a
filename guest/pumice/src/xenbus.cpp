// Xenbus state handshakes over xenstore (pumice/xenbus.hpp).
#include <pumice/pumice.hpp>
#include <pumice/xenbus.hpp>

namespace pumice::xenbus {
namespace {

constexpr size_t kPathMax = XENSTORE_ABS_PATH_MAX + 8;

// "<dir>/state" into a heap buffer (paths may be long; thread stacks are small).
char* state_path(const char* dir) {
    auto* path = static_cast<char*>(malloc(kPathMax));
    if (path) snprintf(path, kPathMax, "%s/state", dir);
    return path;
}

long parse_state(const char* text) {
    if (!*text) return -XEN_EINVAL;
    long v = 0;
    for (const char* p = text; *p; ++p) {
        if (*p < '0' || *p > '9' || v > 1000) return -XEN_EINVAL;
        v = v * 10 + (*p - '0');
    }
    return v;
}

long read_state_at(const char* path, Transaction t = xenstore::kNoTransaction) {
    char buf[16];
    long rc = xenstore::read(path, buf, sizeof(buf), t);
    return rc < 0 ? rc : parse_state(buf);
}

struct Waiter {
    WaitQueue q;
    uint64_t fired = 0;
};

void on_state_change(const char*, void* arg) {
    auto* w = static_cast<Waiter*>(arg);
    w->q.notify_all([w] { ++w->fired; });
}

}  // namespace

long read_state(const char* dir) {
    char* path = state_path(dir);
    if (!path) return -XEN_ENOMEM;
    long rc = read_state_at(path);
    free(path);
    return rc;
}

long switch_state(const char* dir, State state) {
    char* path = state_path(dir);
    if (!path) return -XEN_ENOMEM;
    char value[16];
    snprintf(value, sizeof(value), "%d", static_cast<int>(state));
    long rc = xenstore::transaction([&](xenstore::Transaction t) -> long {
        long cur = read_state_at(path, t);
        if (cur == state) return 0;  // already there: no write, no watch event
        return xenstore::write(path, value, t);
    });
    free(path);
    return rc < 0 ? rc : 0;
}

long wait_for_state(const char* dir, State state, uint64_t deadline_ns) {
    char* path = state_path(dir);
    if (!path) return -XEN_ENOMEM;
    Waiter w;
    long id = xenstore::watch(path, on_state_change, &w);
    if (id < 0) {
        free(path);
        return id;
    }
    long rc;
    for (;;) {
        uint64_t seen = __atomic_load_n(&w.fired, __ATOMIC_ACQUIRE);
        long cur = read_state_at(path);
        if (cur == state) {
            rc = 0;
            break;
        }
        if (cur >= XenbusStateClosing && cur <= XenbusStateClosed && state < XenbusStateClosing) {
            rc = -XEN_ENODEV;  // the other end went away
            break;
        }
        if (deadline_ns == 0) {
            w.q.wait_until([&w, seen] { return w.fired != seen; });
            continue;
        }
        // No timed wait on a WaitQueue: sleep in short slices until a change or the deadline.
        while (__atomic_load_n(&w.fired, __ATOMIC_ACQUIRE) == seen && time::now_ns() < deadline_ns)
            sleep_ns(time::kNsPerMs);
        if (__atomic_load_n(&w.fired, __ATOMIC_ACQUIRE) == seen) {
            rc = -XEN_ETIMEDOUT;
            break;
        }
    }
    xenstore::unwatch(id);
    free(path);
    return rc;
}

const char* state_name(long state) {
    switch (state) {
        case XenbusStateUnknown: return "Unknown";
        case XenbusStateInitialising: return "Initialising";
        case XenbusStateInitWait: return "InitWait";
        case XenbusStateInitialised: return "Initialised";
        case XenbusStateConnected: return "Connected";
        case XenbusStateClosing: return "Closing";
        case XenbusStateClosed: return "Closed";
        case XenbusStateReconfiguring: return "Reconfiguring";
        case XenbusStateReconfigured: return "Reconfigured";
        default: return "?";
    }
}

}  // namespace pumice::xenbus
