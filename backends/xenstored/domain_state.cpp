#include "backends/xenstored/domain_state.hpp"

#include "backends/xenstored/path.hpp"

namespace xenolith::xenstored {

namespace {

// `path` with `from` (a home) replaced by `to` when it is that home or beneath it.
std::string rebased(const std::string& path, const std::string& from, const std::string& to) {
    if (path.compare(0, from.size(), from) != 0) return path;
    if (path.size() != from.size() && path[from.size()] != '/') return path;
    return to + path.substr(from.size());
}

}  // namespace

DomainStoreState renumbered(DomainStoreState state, uint32_t domid) {
    const std::string from = domain_path(state.domid);
    const std::string to = domain_path(domid);
    for (SavedNode& n : state.nodes) {
        n.path = rebased(n.path, from, to);
        n.perms.renumber(state.domid, domid);
    }
    for (Watch& w : state.session.watches) w.path = rebased(w.path, from, to);
    state.domid = domid;
    return state;
}

}  // namespace xenolith::xenstored
