#include "backends/xenstored/transaction.hpp"

#include <algorithm>
#include <cerrno>

#include "backends/xenstored/path.hpp"

namespace xenolith::xenstored {

void Transaction::access(const std::string& path) {
    if (accessed_.find(path) == accessed_.end()) accessed_.emplace(path, base_.generation_of(path));
}

const Node* Transaction::find(const std::string& path) {
    access(path);
    auto it = changes_.find(path);
    if (it != changes_.end()) return it->second ? &*it->second : nullptr;
    return base_.find(path);
}

void Transaction::put(const std::string& path, const Node& node) {
    const Node* old = find(path);
    if (old) {
        count_owner(old->perms.owner(), -1);
    } else {
        access(parent_of(path));  // the parent's child list changes
    }
    count_owner(node.perms.owner(), 1);
    Node copy = node;
    // Transaction-local generations, high enough never to equal a live one by chance.
    copy.generation = (uint64_t{1} << 63) | next_generation_++;
    changes_[path] = std::move(copy);
}

void Transaction::erase(const std::string& path) {
    const Node* old = find(path);
    if (!old) return;
    count_owner(old->perms.owner(), -1);
    access(parent_of(path));
    changes_[path] = std::nullopt;
}

std::vector<std::string> Transaction::children(const std::string& path) {
    std::vector<std::string> names = base_.children(path);
    const std::string prefix = path == "/" ? "/" : path + "/";
    for (auto it = changes_.lower_bound(prefix);
         it != changes_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        std::string_view rest = std::string_view(it->first).substr(prefix.size());
        if (rest.empty() || rest.find('/') != std::string_view::npos) continue;
        auto pos = std::lower_bound(names.begin(), names.end(), rest);
        bool present = pos != names.end() && *pos == rest;
        if (it->second && !present) names.insert(pos, std::string(rest));
        if (!it->second && present) names.erase(pos);
    }
    return names;
}

uint32_t Transaction::owned_by(uint32_t domid) {
    int64_t n = static_cast<int64_t>(base_.owned_by(domid));
    auto it = owner_delta_.find(domid);
    if (it != owner_delta_.end()) n += it->second;
    return n < 0 ? 0 : static_cast<uint32_t>(n);
}

int Transaction::commit() {
    if (doomed_) return EAGAIN;
    for (const auto& [path, generation] : accessed_) {
        if (base_.generation_of(path) != generation) return EAGAIN;
    }
    // Removals deepest first (a child's path sorts after its parent's), then creations and
    // changes parents first: every intermediate state of the live tree stays a tree.
    for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
        if (!it->second && base_.find(it->first)) base_.erase(it->first);
    }
    for (auto& [path, node] : changes_) {
        if (node) base_.put(path, *node);
    }
    return 0;
}

}  // namespace xenolith::xenstored
