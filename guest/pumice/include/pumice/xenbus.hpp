// Xenbus device states (<xen/io/xenbus.h>) over xenstore: the handshake block and net
// frontends do with their backends. `dir` is a device directory (the frontend's
// device/vbd/<id>, or the backend's path read from its `backend` node); its state is the
// decimal number in `<dir>/state`.
#pragma once

#include <pumice/xenstore.hpp>

#include <xen/io/xenbus.h>

namespace pumice::xenbus {

using State = XenbusState;
using xenstore::Transaction;

// The state in `<dir>/state`, or a negative Xen errno (-XEN_EINVAL: not a number).
long read_state(const char* dir);
// Writes `<dir>/state` = state, in a transaction (retried on EAGAIN), unless it already
// holds that state (as Linux's xenbus_switch_state). 0 or a negative Xen errno.
long switch_state(const char* dir, State state);
// Watches `<dir>/state` until it holds `state` (0), or until system time reaches
// deadline_ns (0: none; -XEN_ETIMEDOUT). A state past XenbusStateConnected that is not the
// one awaited (Closing, Closed) ends the wait early with -XEN_ENODEV unless awaited.
long wait_for_state(const char* dir, State state, uint64_t deadline_ns = 0);

// The name of a state ("Connected"), for messages.
const char* state_name(long state);

}  // namespace pumice::xenbus
