// The node operations of the protocol (READ, WRITE, MKDIR, RM, DIRECTORY, DIRECTORY_PART,
// GET_PERMS, SET_PERMS) on a NodeView, with Xen's permission checks, quotas and errors.
// Each returns 0 or an errno value; watch events for the changes are appended to `events`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backends/xenstored/node_tree.hpp"
#include "backends/xenstored/quotas.hpp"
#include "backends/xenstored/watches.hpp"

namespace xenolith::xenstored {

class StoreOps {
  public:
    // Paths given to the operations are as the client sent them (relative paths resolve
    // against the caller's domain path).
    StoreOps(NodeView& view, const Caller& caller, const Quotas& quotas,
             std::vector<WatchEvent>& events)
        : view_(view), caller_(caller), quotas_(quotas), events_(events) {}

    int read(std::string_view path, std::string& value);
    int write(std::string_view path, std::string_view value);
    int mkdir(std::string_view path);
    int rm(std::string_view path);
    int directory(std::string_view path, std::vector<std::string>& children);
    // DIRECTORY_PART's reply payload: "<gencnt>\0" then the children from byte `offset` of
    // the NUL-separated child list, as many whole names as fit, and one more NUL at the end.
    int directory_part(std::string_view path, uint64_t offset, std::string& reply);
    int get_perms(std::string_view path, Permissions& perms);
    int set_perms(std::string_view path, const Permissions& perms);

    // The absolute path for `path`, or EINVAL when it breaks Xen's rules.
    int resolve(std::string_view path, std::string& absolute) const;

  private:
    // The node if the caller has all of `need`; else EACCES, or ENOENT when it does not
    // exist and its nearest existing ancestor grants any of `need` (Xen hides existence).
    int get(const std::string& path, unsigned need, const Node*& node);
    int create(const std::string& path, std::string_view value);
    void removed(const std::string& path, const Node& node, bool exact);
    std::vector<Permissions> readable_under(const std::string& path, const Node* node);

    NodeView& view_;
    const Caller& caller_;
    const Quotas& quotas_;
    std::vector<WatchEvent>& events_;
};

}  // namespace xenolith::xenstored
