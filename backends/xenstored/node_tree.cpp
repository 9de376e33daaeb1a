#include "backends/xenstored/node_tree.hpp"

#include <cassert>

#include "backends/xenstored/path.hpp"

namespace xenolith::xenstored {

NodeTree::NodeTree() {
    nodes_.emplace("/", Node{"", Permissions(0), next_generation_++});
    count_owner(0, 1);
    put("/tool", Node{"", Permissions(0), 0});
    put("/tool/xenstored", Node{"", Permissions(0), 0});
}

const Node* NodeTree::find(const std::string& path) {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? nullptr : &it->second;
}

void NodeTree::put(const std::string& path, const Node& node) {
    auto it = nodes_.find(path);
    if (it == nodes_.end()) {
        assert(path != "/" && nodes_.count(parent_of(path)) == 1);
        it = nodes_.emplace(path, node).first;
        touch(parent_of(path));
    } else {
        count_owner(it->second.perms.owner(), -1);
        it->second = node;
    }
    count_owner(node.perms.owner(), 1);
    it->second.generation = next_generation_++;
}

std::vector<std::pair<std::string, Node>> NodeTree::subtree(const std::string& path) const {
    std::vector<std::pair<std::string, Node>> out;
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return out;
    out.emplace_back(*it);
    // Beneath it: every key in [path + "/", path + "0") ('0' follows '/').
    const std::string prefix = path == "/" ? "/" : path + "/";
    for (it = nodes_.lower_bound(prefix);
         it != nodes_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
        if (it->first != path) out.emplace_back(*it);
    return out;
}

void NodeTree::erase(const std::string& path) {
    auto it = nodes_.find(path);
    assert(it != nodes_.end() && path != "/");
    count_owner(it->second.perms.owner(), -1);
    nodes_.erase(it);
    touch(parent_of(path));
}

std::vector<std::string> NodeTree::children(const std::string& path) {
    std::vector<std::string> out;
    const std::string prefix = path == "/" ? "/" : path + "/";
    auto it = nodes_.lower_bound(prefix);
    while (it != nodes_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
        std::string_view rest = std::string_view(it->first).substr(prefix.size());
        if (rest.empty()) {  // the root itself
            ++it;
            continue;
        }
        size_t slash = rest.find('/');
        if (slash == std::string_view::npos) {
            out.emplace_back(rest);
            ++it;
        } else {
            // A grandchild: skip the rest of that child's subtree, every key in
            // [prefix+child+"/", prefix+child+"0") ('0' follows '/'). Siblings such as
            // "child-b" sort between "child" and "child/", so none is skipped.
            it = nodes_.lower_bound(prefix + std::string(rest.substr(0, slash)) + "0");
        }
    }
    return out;
}

uint32_t NodeTree::owned_by(uint32_t domid) {
    auto it = owned_.find(domid);
    return it == owned_.end() ? 0 : it->second;
}

uint64_t NodeTree::generation_of(const std::string& path) const {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? 0 : it->second.generation;
}

void NodeTree::touch(const std::string& path) {
    auto it = nodes_.find(path);
    if (it != nodes_.end()) it->second.generation = next_generation_++;
}

void NodeTree::count_owner(uint32_t domid, int delta) {
    uint32_t& n = owned_[domid];
    n = static_cast<uint32_t>(static_cast<int64_t>(n) + delta);
    if (n == 0) owned_.erase(domid);
}

}  // namespace xenolith::xenstored
