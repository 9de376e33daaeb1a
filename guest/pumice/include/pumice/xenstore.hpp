// The xenstore client (docs/pumice.md, "Xenstore"): Xen's wire protocol (<xen/io/xs_wire.h>)
// over the store ring and event channel the builder names in start_info (store_mfn,
// store_evtchn). Absent (store_mfn 0) every call returns -XEN_ENODEV.
//
// Calls block the calling thread (on a WaitQueue) until xenstored answers: call them from
// threads, never from event handlers. Each caller has one request in flight, matched to its
// reply by request id; several threads may have requests in flight at once. Errors are
// negative Xen errnos translated from xenstored's names ("ENOENT" → -XEN_ENOENT).
// Relative paths are relative to the domain's home, /local/domain/<domid>.
#pragma once

#include <pumice/xen.hpp>

#include <xen/io/xs_wire.h>

namespace pumice::xenstore {

using Transaction = uint32_t;        // xs_transaction_t
inline constexpr Transaction kNoTransaction = 0;  // XBT_NIL

// Whether the store ring is connected (init() found one).
bool available();

// Reads `path` into buf (NUL-terminated, truncated to size - 1): the value's full length,
// or a negative Xen errno.
long read(const char* path, char* buf, size_t size, Transaction t = kNoTransaction);
// Writes `value` (creating missing parents). 0 or a negative Xen errno.
long write(const char* path, const char* value, Transaction t = kNoTransaction);
long mkdir(const char* path, Transaction t = kNoTransaction);
// Removes `path` and everything below it.
long rm(const char* path, Transaction t = kNoTransaction);
// The child names of `path`, each NUL-terminated, one after the other, in buf: returns the
// number of names (those that fit whole), or a negative Xen errno. Walk them with
// `for (p = buf; n--; p += strlen(p) + 1)`.
long directory(const char* path, char* buf, size_t size, Transaction t = kNoTransaction);
// XS_GET_DOMAIN_PATH for `domid`.
long domain_path(domid_t domid, char* buf, size_t size);

// Transactions: start, end (commit, or abort with `abort`); a commit that conflicted with
// another change answers -XEN_EAGAIN and changed nothing.
long transaction_start(Transaction* t);
long transaction_end(Transaction t, bool abort);
// Runs body(t) in a transaction and commits, starting again while the commit answers
// -XEN_EAGAIN (at most `attempts` times). A negative result from body aborts and is
// returned. Returns body's last result (>= 0) or a negative Xen errno.
template <typename Body>
long transaction(Body body, unsigned attempts = 32) {
    long rc = -XEN_EAGAIN;
    for (unsigned i = 0; i < attempts; ++i) {
        Transaction t;
        if (long s = transaction_start(&t); s < 0) return s;
        rc = body(t);
        if (rc < 0) {
            transaction_end(t, true);
            return rc;
        }
        long e = transaction_end(t, false);
        if (e == -XEN_EAGAIN) continue;
        return e < 0 ? e : rc;
    }
    return -XEN_EAGAIN;
}

// Watches: `callback(path, arg)` runs on the xenstore watch thread (vCPU 0), once when the
// watch is set and then for every change at or below `path` (`path` names the node that
// changed). A callback may call the functions here, but must not wait for another watch
// event. Returns a watch id (> 0) for unwatch(), or a negative Xen errno.
using WatchFn = void (*)(const char* path, void* arg);
long watch(const char* path, WatchFn callback, void* arg);
long unwatch(long id);

// Connects the ring, starts the reader and watch threads and watches control/shutdown
// (called by boot; the watch itself is set from the watch thread). Idempotent.
void init();

}  // namespace pumice::xenstore
