// Watches: what a change fires, what a connection has registered, and which watches a
// change matches (docs/misc/xenstore.txt, "Watches").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/xenstored/permissions.hpp"

namespace xenolith::xenstored {

// One change to the store, as watches see it.
struct WatchEvent {
    std::string path;  // absolute, or special ("@releaseDomain")
    // Exact events (a node removed with its removed parent) fire only watches on exactly
    // this path; others fire every watch at or above it.
    bool exact = false;
    // A watcher learns of the change only if one of these lets it read (Xen: the node's new
    // and old permissions, and its parent's). Special events are checked against the
    // special node's permissions when fired.
    std::vector<Permissions> readable_under;
};

struct Watch {
    std::string path;  // absolute (after canonicalize) or special
    std::string token;
    bool relative = false;  // registered relative: events are reported relative too
    bool operator==(const Watch&) const = default;
};

// Does `event` fire `watch`?
bool watch_matches(const Watch& watch, const WatchEvent& event);

// The <epath> a WATCH_EVENT reports for `event_path`: relative to `domain_base` when the
// watch was registered relative.
std::string event_path_for(const Watch& watch, std::string_view event_path,
                           std::string_view domain_base);

// A connection's registered watches.
class WatchList {
  public:
    // EEXIST for a duplicate (path, token).
    int add(Watch watch);
    // ENOENT when no such (path, token) is registered.
    int remove(std::string_view path, std::string_view token);
    void clear() { watches_.clear(); }
    size_t size() const { return watches_.size(); }
    const std::vector<Watch>& all() const { return watches_; }

  private:
    std::vector<Watch> watches_;
};

}  // namespace xenolith::xenstored
