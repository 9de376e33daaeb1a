#include "backends/xenstored/domain_state.hpp"

#include <cerrno>

#include "backends/xenstored/path.hpp"
#include "backends/xenstored/wire.hpp"

namespace xenolith::xenstored {

namespace {

// `path` with `from` (a home) replaced by `to` when it is that home or beneath it.
std::string rebased(const std::string& path, const std::string& from, const std::string& to) {
    if (path.compare(0, from.size(), from) != 0) return path;
    if (path.size() != from.size() && path[from.size()] != '/') return path;
    return to + path.substr(from.size());
}

// A path under Domain-0's backend directory for the old id, libxl's
// /local/domain/0/backend/<kind>/<domid>[/...], moved to the new id; others unchanged.
std::string rebased_backend(const std::string& path, uint32_t from, uint32_t to) {
    static const std::string kBackends = "/local/domain/0/backend/";
    if (path.compare(0, kBackends.size(), kBackends) != 0) return path;
    const size_t kind_end = path.find('/', kBackends.size());
    if (kind_end == std::string::npos) return path;
    const std::string dir = path.substr(0, kind_end + 1);
    return rebased(path, dir + std::to_string(from), dir + std::to_string(to));
}

}  // namespace

DomainStoreState renumbered(DomainStoreState state, uint32_t domid) {
    const uint32_t old = state.domid;
    const std::string from = domain_path(old);
    const std::string to = domain_path(domid);
    auto move = [&](const std::string& path) {
        return rebased_backend(rebased(path, from, to), old, domid);
    };
    for (SavedNode& n : state.nodes) {
        n.path = move(n.path);
        n.value = rebased_backend(n.value, old, domid);  // a frontend's `backend` node
        n.perms.renumber(old, domid);
    }
    for (Watch& w : state.session.watches) w.path = move(w.path);
    state.domid = domid;
    return state;
}

int session_fits(const Session& session, const Quotas& quotas) {
    if (session.watches.size() > quotas.watches_per_domain) return E2BIG;
    if (session.transactions.size() > quotas.transactions_per_domain) return ENOSPC;
    for (const Watch& w : session.watches) {
        const bool ok = is_special(w.path) ? w.path.size() <= XENSTORE_REL_PATH_MAX
                                           : is_valid_node_path(w.path, quotas.path_length);
        if (!ok) return EINVAL;
    }
    return 0;
}

}  // namespace xenolith::xenstored
