// The xenstore client (pumice/xenstore.hpp): requests go out on `req` whole, under a sleeping
// writer lock; one reader thread assembles everything on `rsp`, hands replies to the
// waiting callers by request id and queues watch events for the watch thread, which runs
// the callbacks (so a callback may itself make requests). Both indices are free-running, as
// the console ring's: the peer's read with acquire, ours published with release.
#include <pumice/pumice.hpp>
#include <pumice/xenstore.hpp>

namespace pumice::xenstore {
namespace {

constexpr uint32_t kRingSize = XENSTORE_RING_SIZE;

// A lock a thread may sleep on while holding it (the ring can fill mid-message).
class SleepLock {
  public:
    void lock() {
        q_.wait_until([this] {
            if (held_) return false;
            held_ = true;
            return true;
        });
    }
    void unlock() {
        q_.notify_all([this] { held_ = false; });
    }

  private:
    WaitQueue q_;
    bool held_ = false;
};

// One caller's request waiting for its reply.
struct Pending {
    uint32_t req_id;
    uint32_t type = 0;
    uint32_t len = 0;
    char* body = nullptr;  // malloc'd, NUL-terminated; the caller frees it
    bool done = false;
    long error = 0;        // set instead of a reply when the ring broke
    Pending* next = nullptr;
};

// A watch event queued for the watch thread.
struct Event {
    char* body;  // "<path>\0<token>\0"
    uint32_t len;
    Event* next;
};

struct Watch {
    long id;
    char* path;  // for UNWATCH, which names path and token
    WatchFn fn;
    void* arg;
    Watch* next;
};

xenstore_domain_interface* g_ring;
evtchn_port_t g_port;
bool g_broken;  // corrupt indices or a reply too long: every request fails with -XEN_EIO

WaitQueue g_ring_wq;   // the store event: data in rsp, room in req
SleepLock g_writer;    // one message at a time onto req

SpinLock g_lock;       // everything below
Pending* g_pending;
uint32_t g_next_req_id = 1;
Event* g_events_head;
Event* g_events_tail;
Watch* g_watches;
long g_next_watch_id = 1;
WaitQueue g_replies;   // callers waiting for Pending::done
WaitQueue g_events_wq; // the watch thread waiting for events

bool broken() {
    return __atomic_load_n(&g_broken, __ATOMIC_ACQUIRE);
}

void on_store_event(evtchn_port_t, void*) {
    g_ring_wq.wake_all();
}

// ---- the request side ----

struct Part {
    const void* data;
    uint32_t len;
};

// Copies `len` bytes onto req, waiting for room as needed.
void ring_write(const void* data, uint32_t len) {
    const char* p = static_cast<const char*>(data);
    while (len && !broken()) {
        XENSTORE_RING_IDX cons = 0, prod = 0;
        g_ring_wq.wait_until([&] {
            cons = __atomic_load_n(&g_ring->req_cons, __ATOMIC_ACQUIRE);
            prod = __atomic_load_n(&g_ring->req_prod, __ATOMIC_RELAXED);
            return broken() || prod - cons < kRingSize;
        });
        if (broken()) return;
        if (prod - cons > kRingSize) {
            __atomic_store_n(&g_broken, true, __ATOMIC_RELEASE);
            return;
        }
        uint32_t n = kRingSize - (prod - cons);
        if (n > len) n = len;
        for (uint32_t i = 0; i < n; ++i) g_ring->req[MASK_XENSTORE_IDX(prod + i)] = p[i];
        __atomic_store_n(&g_ring->req_prod, prod + n, __ATOMIC_RELEASE);  // bytes, then index
        events::notify(g_port);
        p += n;
        len -= n;
    }
}

struct ErrorName {
    const char* name;
    int value;
};
constexpr ErrorName kErrors[] = {
    {"EINVAL", XEN_EINVAL}, {"EACCES", XEN_EACCES}, {"EEXIST", XEN_EEXIST},
    {"EISDIR", XEN_EISDIR}, {"ENOENT", XEN_ENOENT}, {"ENOMEM", XEN_ENOMEM},
    {"ENOSPC", XEN_ENOSPC}, {"EIO", XEN_EIO},       {"ENOTEMPTY", XEN_ENOTEMPTY},
    {"ENOSYS", XEN_ENOSYS}, {"EROFS", XEN_EROFS},   {"EBUSY", XEN_EBUSY},
    {"EAGAIN", XEN_EAGAIN}, {"EISCONN", XEN_EISCONN}, {"E2BIG", XEN_E2BIG},
    {"EPERM", XEN_EPERM},   {"EQUOTA", XEN_ENOSPC},
};

long error_value(const char* name) {
    for (const ErrorName& e : kErrors)
        if (strcmp(name, e.name) == 0) return -e.value;
    return -XEN_EINVAL;  // as Xen's clients: an unknown name is EINVAL
}

// Sends one request and waits for its reply. On success the reply body (NUL-terminated,
// malloc'd) is in *body and its length returned; XS_ERROR replies become negative errnos.
long request(uint32_t type, Transaction t, const Part* parts, unsigned nparts, char** body) {
    *body = nullptr;
    if (!g_ring) return -XEN_ENODEV;
    if (broken()) return -XEN_EIO;
    uint32_t total = 0;
    for (unsigned i = 0; i < nparts; ++i) total += parts[i].len;
    if (total > XENSTORE_PAYLOAD_MAX) return -XEN_E2BIG;

    Pending me;
    {
        IrqSpinGuard guard(g_lock);
        me.req_id = g_next_req_id++;
        me.next = g_pending;
        g_pending = &me;
    }
    xsd_sockmsg header{type, me.req_id, t, total};
    g_writer.lock();
    ring_write(&header, sizeof(header));
    for (unsigned i = 0; i < nparts; ++i) ring_write(parts[i].data, parts[i].len);
    g_writer.unlock();
    if (broken()) g_replies.wake_all();  // our own wait below sees it

    g_replies.wait_until([&me] { return me.done || broken(); });
    {
        IrqSpinGuard guard(g_lock);
        for (Pending** p = &g_pending; *p; p = &(*p)->next)
            if (*p == &me) {
                *p = me.next;
                break;
            }
    }
    if (!me.done) return -XEN_EIO;
    if (me.error) return me.error;
    if (me.type == XS_ERROR) {
        long rc = error_value(me.body);
        free(me.body);
        return rc;
    }
    *body = me.body;
    return me.len;
}

long simple(uint32_t type, Transaction t, const Part* parts, unsigned nparts) {
    char* body;
    long rc = request(type, t, parts, nparts, &body);
    free(body);
    return rc < 0 ? rc : 0;
}

Part str(const char* s) {
    return {s, static_cast<uint32_t>(strlen(s) + 1)};
}

// ---- the reader thread ----

void deliver(const xsd_sockmsg& h, char* body) {
    if (h.type == XS_WATCH_EVENT) {
        auto* e = static_cast<Event*>(malloc(sizeof(Event)));
        if (!e) {
            free(body);
            return;
        }
        *e = Event{body, h.len, nullptr};
        g_events_wq.notify_all([e] {
            IrqSpinGuard guard(g_lock);
            if (g_events_tail)
                g_events_tail->next = e;
            else
                g_events_head = e;
            g_events_tail = e;
        });
        return;
    }
    bool matched = false;
    g_replies.notify_all([&] {
        IrqSpinGuard guard(g_lock);
        for (Pending* p = g_pending; p; p = p->next) {
            if (p->req_id != h.req_id || p->done) continue;
            p->type = h.type;
            p->len = h.len;
            p->body = body;
            p->done = true;
            matched = true;
            break;
        }
    });
    if (!matched) free(body);  // a reply nobody waits for
}

void fail_all(const char* why) {
    printf("pumice: xenstore ring %s; the store is unusable\n", why);
    __atomic_store_n(&g_broken, true, __ATOMIC_RELEASE);
    g_replies.wake_all();
    g_ring_wq.wake_all();
}

// Takes up to `len` bytes from rsp into `to`; returns how many.
uint32_t ring_read(char* to, uint32_t len) {
    XENSTORE_RING_IDX cons = 0, prod = 0;
    g_ring_wq.wait_until([&] {
        prod = __atomic_load_n(&g_ring->rsp_prod, __ATOMIC_ACQUIRE);
        cons = __atomic_load_n(&g_ring->rsp_cons, __ATOMIC_RELAXED);
        return prod != cons;
    });
    if (prod - cons > kRingSize) {
        fail_all("indices corrupt");
        return 0;
    }
    uint32_t n = prod - cons;
    if (n > len) n = len;
    for (uint32_t i = 0; i < n; ++i) to[i] = g_ring->rsp[MASK_XENSTORE_IDX(cons + i)];
    __atomic_store_n(&g_ring->rsp_cons, cons + n, __ATOMIC_RELEASE);  // read, then free
    events::notify(g_port);  // xenstored may be waiting for room
    return n;
}

void reader_thread(void*) {
    for (;;) {
        xsd_sockmsg h;
        uint32_t got = 0;
        while (got < sizeof(h)) {
            uint32_t n = ring_read(reinterpret_cast<char*>(&h) + got, sizeof(h) - got);
            if (!n) return;
            got += n;
        }
        if (h.len > XENSTORE_PAYLOAD_MAX) {
            fail_all("message too long");
            return;
        }
        char* body = static_cast<char*>(malloc(h.len + 1));
        if (!body) {
            fail_all("out of memory");
            return;
        }
        for (got = 0; got < h.len;) {
            uint32_t n = ring_read(body + got, h.len - got);
            if (!n) return;
            got += n;
        }
        body[h.len] = '\0';
        deliver(h, body);
    }
}

// ---- watches ----

void format_token(char* buf, size_t size, long id) {
    snprintf(buf, size, "pumice-%lx", id);
}

void run_event(Event* e) {
    const char* path = e->body;
    size_t plen = strnlen(path, e->len);
    const char* token = plen + 1 < e->len ? path + plen + 1 : "";
    WatchFn fn = nullptr;
    void* arg = nullptr;
    {
        IrqSpinGuard guard(g_lock);
        for (Watch* w = g_watches; w; w = w->next) {
            char t[32];
            format_token(t, sizeof(t), w->id);
            if (strcmp(t, token) == 0) {
                fn = w->fn;
                arg = w->arg;
                break;
            }
        }
    }
    if (fn && plen < e->len) fn(path, arg);
}

// ---- control/shutdown ----

void on_control_shutdown(const char*, void*) {
    char what[32];
    // As Linux's shutdown_handler: read and acknowledge (clear) in one transaction.
    long rc = transaction([&what](Transaction t) -> long {
        long n = read("control/shutdown", what, sizeof(what), t);
        if (n <= 0) return n;
        long w = write("control/shutdown", "", t);
        return w < 0 ? w : n;
    });
    if (rc <= 0) return;  // empty, missing, or unreadable: nothing asked
    if (strcmp(what, "poweroff") == 0 || strcmp(what, "halt") == 0) {
        printf("pumice: control/shutdown: %s\n", what);
        exit(0);
    }
    if (strcmp(what, "reboot") == 0) {
        printf("pumice: control/shutdown: reboot\n");
        shutdown(SHUTDOWN_reboot, 0);
    }
    printf("pumice: control/shutdown: '%s' not supported; ignored\n", what);
}

void watch_thread(void*) {
    long rc = watch("control/shutdown", on_control_shutdown, nullptr);
    if (rc < 0 && rc != -XEN_ENODEV && rc != -XEN_EIO)
        printf("pumice: cannot watch control/shutdown (%ld)\n", rc);
    for (;;) {
        Event* e = nullptr;
        g_events_wq.wait_until([&e] {
            IrqSpinGuard guard(g_lock);
            if (!(e = g_events_head)) return false;
            g_events_head = e->next;
            if (!g_events_head) g_events_tail = nullptr;
            return true;
        });
        run_event(e);
        free(e->body);
        free(e);
    }
}

}  // namespace

bool available() {
    return g_ring && !broken();
}

long read(const char* path, char* buf, size_t size, Transaction t) {
    Part parts[] = {str(path)};
    char* body;
    long rc = request(XS_READ, t, parts, 1, &body);
    if (rc < 0) return rc;
    if (size) {
        size_t n = static_cast<size_t>(rc) < size - 1 ? static_cast<size_t>(rc) : size - 1;
        memcpy(buf, body, n);
        buf[n] = '\0';
    }
    free(body);
    return rc;
}

long write(const char* path, const char* value, Transaction t) {
    Part parts[] = {str(path), {value, static_cast<uint32_t>(strlen(value))}};
    return simple(XS_WRITE, t, parts, 2);
}

long mkdir(const char* path, Transaction t) {
    Part parts[] = {str(path)};
    return simple(XS_MKDIR, t, parts, 1);
}

long rm(const char* path, Transaction t) {
    Part parts[] = {str(path)};
    return simple(XS_RM, t, parts, 1);
}

long directory(const char* path, char* buf, size_t size, Transaction t) {
    Part parts[] = {str(path)};
    char* body;
    long rc = request(XS_DIRECTORY, t, parts, 1, &body);
    if (rc < 0) return rc;
    long count = 0;
    size_t used = 0;
    for (size_t at = 0; at < static_cast<size_t>(rc);) {
        size_t len = strnlen(body + at, static_cast<size_t>(rc) - at);
        if (len == 0 && at + 1 >= static_cast<size_t>(rc)) break;
        if (used + len + 1 > size) break;
        memcpy(buf + used, body + at, len);
        buf[used + len] = '\0';
        used += len + 1;
        ++count;
        at += len + 1;
    }
    free(body);
    return count;
}

long domain_path(domid_t domid, char* buf, size_t size) {
    char id[8];
    snprintf(id, sizeof(id), "%u", static_cast<unsigned>(domid));
    Part parts[] = {str(id)};
    char* body;
    long rc = request(XS_GET_DOMAIN_PATH, kNoTransaction, parts, 1, &body);
    if (rc < 0) return rc;
    if (size) {
        size_t n = strnlen(body, static_cast<size_t>(rc));
        if (n > size - 1) n = size - 1;
        memcpy(buf, body, n);
        buf[n] = '\0';
    }
    free(body);
    return 0;
}

long transaction_start(Transaction* t) {
    Part parts[] = {{"", 1}};
    char* body;
    long rc = request(XS_TRANSACTION_START, kNoTransaction, parts, 1, &body);
    if (rc < 0) return rc;
    Transaction id = 0;
    for (const char* p = body; *p >= '0' && *p <= '9'; ++p) id = id * 10 + static_cast<Transaction>(*p - '0');
    free(body);
    if (id == 0) return -XEN_EIO;
    *t = id;
    return 0;
}

long transaction_end(Transaction t, bool abort) {
    Part parts[] = {{abort ? "F" : "T", 2}};
    return simple(XS_TRANSACTION_END, t, parts, 1);
}

long watch(const char* path, WatchFn callback, void* arg) {
    if (!g_ring) return -XEN_ENODEV;
    auto* w = static_cast<Watch*>(malloc(sizeof(Watch)));
    size_t plen = strlen(path);
    char* copy = static_cast<char*>(malloc(plen + 1));
    if (!w || !copy) {
        free(w);
        free(copy);
        return -XEN_ENOMEM;
    }
    memcpy(copy, path, plen + 1);
    {
        // Listed before the request: the first event may come right behind the reply.
        IrqSpinGuard guard(g_lock);
        *w = Watch{g_next_watch_id++, copy, callback, arg, g_watches};
        g_watches = w;
    }
    char token[32];
    format_token(token, sizeof(token), w->id);
    Part parts[] = {str(path), str(token)};
    long rc = simple(XS_WATCH, kNoTransaction, parts, 2);
    if (rc == 0) return w->id;
    unwatch(-w->id);  // negative: only forget it locally
    return rc;
}

long unwatch(long id) {
    bool local_only = id < 0;
    if (local_only) id = -id;
    Watch* found = nullptr;
    {
        IrqSpinGuard guard(g_lock);
        for (Watch** w = &g_watches; *w; w = &(*w)->next)
            if ((*w)->id == id) {
                found = *w;
                *w = found->next;
                break;
            }
    }
    if (!found) return -XEN_ENOENT;
    long rc = 0;
    if (!local_only) {
        // Events already queued for it are dropped by the watch thread (no match any more).
        char token[32];
        format_token(token, sizeof(token), id);
        Part parts[] = {str(found->path), str(token)};
        rc = simple(XS_UNWATCH, kNoTransaction, parts, 2);
    }
    free(found->path);
    free(found);
    return rc;
}

void init() {
    static bool done;
    if (done) return;
    done = true;
    const start_info_t& si = xen_start_info();
    if (si.flags & SIF_INITDOMAIN) return;
    xen_pfn_t pfn = si.store_mfn;
    evtchn_port_t port = si.store_evtchn;
    if (!pfn || !port) return;  // no store: every call answers -XEN_ENODEV
    if (pfn >= si.nr_pages) {
        printf("pumice: xenstore ring pfn 0x%lx is outside RAM; no xenstore\n",
               static_cast<unsigned long>(pfn));
        return;
    }
    long rc = events::bind(port, 0, on_store_event, nullptr);
    if (rc < 0) {
        printf("pumice: cannot bind xenstore port %u (%ld); no xenstore\n", port, rc);
        return;
    }
    g_port = port;
    // Auto-translated: the pfn is a guest-physical frame, mapped at VA = PA.
    __atomic_store_n(&g_ring, reinterpret_cast<xenstore_domain_interface*>(pfn * mem::kPageSize),
                     __ATOMIC_RELEASE);
    if (!thread_create("xenstore", reader_thread, nullptr, 0) ||
        !thread_create("xenwatch", watch_thread, nullptr, 0))
        panic("cannot create the xenstore threads");
}

}  // namespace pumice::xenstore
