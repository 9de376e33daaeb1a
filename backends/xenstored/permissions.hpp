// Node permissions in Xen's model: the first entry names the owner and the default access
// for every domain not listed; later entries grant listed domains their own access.
// Text form as on the wire (docs/misc/xenstore.txt): "n0", "r1", "w2", "b3".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/xenstored/wire.hpp"

namespace xenolith::xenstored {

// Who is asking: a domain, possibly privileged (dom0 and the socket's clients), possibly
// the device model of a target domain (SET_TARGET), whose rights it then shares.
struct Caller {
    uint32_t domid = 0;
    bool privileged = false;
    std::optional<uint32_t> target;
};

struct PermissionEntry {
    uint32_t domid = 0;
    unsigned access = XS_PERM_NONE;  // XS_PERM_READ | XS_PERM_WRITE
    bool operator==(const PermissionEntry&) const = default;
};

class Permissions {
  public:
    // Owned by `owner`, no access for anyone else: what Xen gives its root node.
    explicit Permissions(uint32_t owner = 0) : entries_{{owner, XS_PERM_NONE}} {}

    // Parses one or more "n0"/"r1"/"w2"/"b3" strings; nullopt for an empty list, an
    // unknown letter or a domid that is not a decimal number up to 65535.
    static std::optional<Permissions> parse(const std::vector<std::string_view>& strings);

    // The strings, in order, each followed by a NUL: the GET_PERMS reply.
    std::string wire() const;
    // The strings joined with commas, for people: "n0,r3".
    std::string text() const;

    uint32_t owner() const { return entries_.front().domid; }
    void set_owner(uint32_t domid) { entries_.front().domid = domid; }
    // Every entry naming `from` names `to` instead (a domain restored under a new id).
    void renumber(uint32_t from, uint32_t to) {
        for (auto& e : entries_)
            if (e.domid == from) e.domid = to;
    }
    const std::vector<PermissionEntry>& entries() const { return entries_; }

    // What `caller` may do here: XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER bits. The
    // privileged and the owner (or its device model) get everything; a listed domain gets
    // its entry; anyone else the default.
    unsigned rights(const Caller& caller) const;

    bool operator==(const Permissions&) const = default;

  private:
    std::vector<PermissionEntry> entries_;
};

}  // namespace xenolith::xenstored
