#include "backends/xenstored/store_ops.hpp"

#include <cerrno>
#include <cstdint>

#include "backends/xenstored/path.hpp"

namespace xenolith::xenstored {

int StoreOps::resolve(std::string_view path, std::string& absolute) const {
    if (path.empty() || is_special(path)) return EINVAL;
    absolute = canonicalize(path, caller_.domid);
    size_t max_local = caller_.privileged ? SIZE_MAX : quotas_.path_length;
    return is_valid_node_path(absolute, max_local) ? 0 : EINVAL;
}

int StoreOps::get(const std::string& path, unsigned need, const Node*& node) {
    node = view_.find(path);
    if (node) {
        if ((node->perms.rights(caller_) & need) == need) return 0;
        node = nullptr;
        return EACCES;
    }
    std::string ancestor = path;
    while (ancestor != "/") {
        ancestor = parent_of(ancestor);
        if (const Node* a = view_.find(ancestor)) {
            return (a->perms.rights(caller_) & need) ? ENOENT : EACCES;
        }
    }
    return EACCES;
}

std::vector<Permissions> StoreOps::readable_under(const std::string& path, const Node* node) {
    std::vector<Permissions> out;
    if (node) out.push_back(node->perms);
    if (path != "/") {
        if (const Node* parent = view_.find(parent_of(path))) out.push_back(parent->perms);
    }
    return out;
}

int StoreOps::read(std::string_view path, std::string& value) {
    std::string abs;
    const Node* node = nullptr;
    if (int err = resolve(path, abs)) return err;
    if (int err = get(abs, XS_PERM_READ, node)) return err;
    value = node->value;
    return 0;
}

int StoreOps::create(const std::string& path, std::string_view value) {
    std::vector<std::string> missing;
    std::string p = path;
    while (!view_.find(p)) {
        missing.push_back(p);
        p = parent_of(p);
    }
    if (!caller_.privileged &&
        uint64_t{view_.owned_by(caller_.domid)} + missing.size() > quotas_.nodes_per_domain) {
        return ENOSPC;
    }
    // Top down: each new node inherits its parent's permissions; unprivileged domains own
    // what they create.
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        Node node;
        node.perms = view_.find(parent_of(*it))->perms;
        if (!caller_.privileged) node.perms.set_owner(caller_.domid);
        if (*it == path) node.value = std::string(value);
        view_.put(*it, node);
    }
    return 0;
}

int StoreOps::write(std::string_view path, std::string_view value) {
    std::string abs;
    const Node* node = nullptr;
    if (int err = resolve(path, abs)) return err;
    if (!caller_.privileged && value.size() > quotas_.value_size) return ENOSPC;
    int err = get(abs, XS_PERM_WRITE, node);
    if (err == 0) {
        Node changed = *node;
        changed.value = std::string(value);
        view_.put(abs, changed);
    } else if (err == ENOENT) {
        if ((err = create(abs, value))) return err;
    } else {
        return err;
    }
    events_.push_back({abs, false, readable_under(abs, view_.find(abs))});
    return 0;
}

int StoreOps::mkdir(std::string_view path) {
    std::string abs;
    const Node* node = nullptr;
    if (int err = resolve(path, abs)) return err;
    int err = get(abs, XS_PERM_WRITE, node);
    if (err != ENOENT) return err;  // 0: it exists already, left unchanged
    if ((err = create(abs, ""))) return err;
    events_.push_back({abs, false, readable_under(abs, view_.find(abs))});
    return 0;
}

void StoreOps::removed(const std::string& path, const Node& node, bool exact) {
    events_.push_back({path, exact, readable_under(path, &node)});
}

int StoreOps::rm(std::string_view path) {
    std::string abs;
    const Node* node = nullptr;
    if (int err = resolve(path, abs)) return err;
    int err = get(abs, XS_PERM_WRITE, node);
    if (err == ENOENT) return view_.find(parent_of(abs)) ? 0 : ENOENT;
    if (err) return err;
    if (abs == "/") return EINVAL;

    removed(abs, *node, false);
    // Depth first, children before their parent; a watch on a removed descendant hears of
    // its own path ("exact" events), watches at or above `abs` hear of `abs` once.
    struct Frame {
        std::string path;
        std::vector<std::string> children;
        size_t next = 0;
    };
    std::vector<Frame> stack;
    stack.push_back({abs, view_.children(abs)});
    while (!stack.empty()) {
        Frame& top = stack.back();
        if (top.next < top.children.size()) {
            std::string child = child_of(top.path, top.children[top.next++]);
            std::vector<std::string> grandchildren = view_.children(child);
            stack.push_back({std::move(child), std::move(grandchildren)});
            continue;
        }
        if (top.path != abs) {
            if (const Node* n = view_.find(top.path)) removed(top.path, *n, true);
        }
        view_.erase(top.path);
        stack.pop_back();
    }
    return 0;
}

int StoreOps::directory(std::string_view path, std::vector<std::string>& children) {
    std::string abs;
    const Node* node = nullptr;
    if (int err = resolve(path, abs)) return err;
    if (int err = get(abs, XS_PERM_READ, node)) return err;
    children = view_.children(abs);
    return 0;
}

int StoreOps::directory_part(std::string_view path, uint64_t offset, std::string& reply) {
    std::string abs;
    const Node* node = nullptr;
    if (int err = resolve(path, abs)) return err;
    if (int err = get(abs, XS_PERM_READ, node)) return err;
    reply = std::to_string(node->generation);
    reply += '\0';
    const std::string list = join_strings(view_.children(abs));
    if (offset >= list.size()) {
        reply += '\0';
        return 0;
    }
    const size_t max = XENSTORE_PAYLOAD_MAX - reply.size() - 1;
    size_t start = static_cast<size_t>(offset);
    size_t end = start;
    while (end < list.size()) {
        size_t next = list.find('\0', end) + 1;  // every name in `list` ends in a NUL
        if (next - start > max) break;
        end = next;
    }
    reply.append(list, start, end - start);
    if (end == list.size()) reply += '\0';
    return 0;
}

int StoreOps::get_perms(std::string_view path, Permissions& perms) {
    std::string abs;
    const Node* node = nullptr;
    if (int err = resolve(path, abs)) return err;
    if (int err = get(abs, XS_PERM_READ, node)) return err;
    perms = node->perms;
    return 0;
}

int StoreOps::set_perms(std::string_view path, const Permissions& perms) {
    std::string abs;
    const Node* node = nullptr;
    if (!caller_.privileged && perms.entries().size() > quotas_.perms_per_node) return ENOSPC;
    if (int err = resolve(path, abs)) return err;
    if (int err = get(abs, XS_PERM_WRITE | XS_PERM_OWNER, node)) return err;
    if (!caller_.privileged && perms.owner() != node->perms.owner()) return EPERM;
    Node changed = *node;
    Permissions old = changed.perms;
    changed.perms = perms;
    view_.put(abs, changed);
    std::vector<Permissions> readable = readable_under(abs, view_.find(abs));
    readable.push_back(old);
    events_.push_back({abs, false, std::move(readable)});
    return 0;
}

}  // namespace xenolith::xenstored
