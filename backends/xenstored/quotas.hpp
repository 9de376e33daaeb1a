// Per-domain limits. Store quotas bind unprivileged domains only, as in Xen's xenstored
// (whose defaults these are); the output bounds bind every connection, so that no client
// can make the daemon's memory grow without bound. Documented in docs/xenstore.md.
#pragma once

#include <cstdint>

#include "backends/xenstored/wire.hpp"

namespace xenolith::xenstored {

struct Quotas {
    uint32_t nodes_per_domain = 1000;              // nodes a domain may own          -> ENOSPC
    uint32_t value_size = 2048;                    // bytes in one node's value       -> ENOSPC
    uint32_t watches_per_domain = 128;             // registered watches              -> E2BIG
    uint32_t transactions_per_domain = 10;         // open transactions               -> ENOSPC
    uint32_t perms_per_node = 5;                   // entries in a SET_PERMS list     -> ENOSPC
    uint32_t nodes_per_transaction = 1024;         // nodes one transaction touches   -> ENOSPC
    uint32_t path_length = XENSTORE_REL_PATH_MAX;  // below /local/domain/<id>/ -> EINVAL
    // Every connection: replies not yet taken by the transport. At the limit the connection
    // reads no further requests until the transport drains its output (Xen: stop reading).
    uint32_t outstanding_requests = 20;
    // Every connection: watch events not yet taken by the transport. Further events for that
    // connection are dropped (Xen: watches may fire spuriously, or be lost under quota).
    uint32_t queued_watch_events = 1024;
};

}  // namespace xenolith::xenstored
