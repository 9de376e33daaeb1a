// A guest domain's part of the store, as save/restore, migration and live update carry it
// (docs/domain-stream.md, XENSTORE): the nodes under its home (/local/domain/<domid>) and
// what its ring connection holds between two requests. The ring itself and its indices
// are in the guest's RAM and travel with it; a request half read from the ring, replies
// and watch events not yet written to it, its watches and open transactions are here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/xenstored/permissions.hpp"
#include "backends/xenstored/quotas.hpp"
#include "backends/xenstored/watches.hpp"

namespace xenolith::xenstored {

struct SavedNode {
    std::string path;  // absolute
    std::string value;
    Permissions perms;
    bool operator==(const SavedNode&) const = default;
};

struct SessionOutput {
    std::string bytes;  // the first may be the rest of a message partly sent already
    bool event = false;
    bool operator==(const SessionOutput&) const = default;
};

struct Session {
    std::string partial_request;  // header and payload bytes of a request not yet whole
    std::vector<SessionOutput> output;
    std::vector<Watch> watches;
    // Open transactions come back doomed: their commit fails with EAGAIN, which every
    // client retries (the nodes they read may have changed while the domain was away).
    std::vector<uint32_t> transactions;
    uint32_t next_transaction_id = 1;
    bool operator==(const Session&) const = default;
};

struct DomainStoreState {
    uint32_t domid = 0;            // the domain's id where it was saved: its nodes' paths name it
    std::vector<SavedNode> nodes;  // the home first, parents before children
    Session session;
    bool operator==(const DomainStoreState&) const = default;
};

// The same state for the domain under a new id: paths under the old home move to the new
// one, permission entries naming the old id name the new one, as do watches; and paths of
// its devices' backend directories (/local/domain/0/backend/<kind>/<id>/...), in watches
// and in node values (a frontend's `backend`), name the new id.
DomainStoreState renumbered(DomainStoreState state, uint32_t domid);

// Whether a saved session (from a file or another host: hostile) is one this store could
// have made for an unprivileged domain: every watch on a valid or special path and within
// the quotas of watches and transactions. 0, or the errno WATCH or TRANSACTION_START would
// have given (EINVAL, E2BIG, ENOSPC).
int session_fits(const Session& session, const Quotas& quotas);

}  // namespace xenolith::xenstored
