#include "backends/xenstored/watches.hpp"

#include <algorithm>
#include <cerrno>

#include "backends/xenstored/path.hpp"

namespace xenolith::xenstored {

bool watch_matches(const Watch& watch, const WatchEvent& event) {
    // Special events fire only watches on that special path, never "/"-rooted ones.
    if (is_special(event.path) || is_special(watch.path)) return watch.path == event.path;
    if (event.exact) return watch.path == event.path;
    return is_at_or_below(event.path, watch.path);
}

std::string event_path_for(const Watch& watch, std::string_view event_path,
                           std::string_view domain_base) {
    if (!watch.relative || !is_at_or_below(event_path, domain_base)) return std::string(event_path);
    std::string_view rest = event_path.substr(domain_base.size());
    if (!rest.empty() && rest[0] == '/') rest.remove_prefix(1);
    return std::string(rest);
}

int WatchList::add(Watch watch) {
    auto same = [&](const Watch& w) { return w.path == watch.path && w.token == watch.token; };
    if (std::any_of(watches_.begin(), watches_.end(), same)) return EEXIST;
    watches_.push_back(std::move(watch));
    return 0;
}

int WatchList::remove(std::string_view path, std::string_view token) {
    auto it = std::find_if(watches_.begin(), watches_.end(),
                           [&](const Watch& w) { return w.path == path && w.token == token; });
    if (it == watches_.end()) return ENOENT;
    watches_.erase(it);
    return 0;
}

}  // namespace xenolith::xenstored
