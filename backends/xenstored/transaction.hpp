// A transaction: a change log over the live tree. Reads fall through to the live tree
// unless the transaction changed the node; every node touched is remembered with the
// generation it had, and the commit fails with EAGAIN if any of them has changed since
// (Xen's generation check). Watch events wait for the commit.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backends/xenstored/node_tree.hpp"
#include "backends/xenstored/watches.hpp"

namespace xenolith::xenstored {

class Transaction final : public NodeView {
  public:
    Transaction(NodeTree& base, uint32_t id) : base_(base), id_(id) {}

    uint32_t id() const { return id_; }

    const Node* find(const std::string& path) override;
    void put(const std::string& path, const Node& node) override;
    void erase(const std::string& path) override;
    std::vector<std::string> children(const std::string& path) override;
    uint32_t owned_by(uint32_t domid) override;

    // How many distinct nodes the transaction has touched (its per-transaction quota).
    size_t accessed() const { return accessed_.size(); }
    // Events to fire once committed.
    std::vector<WatchEvent>& pending_events() { return events_; }

    // Applies the changes to the live tree, or returns EAGAIN (and changes nothing) when a
    // node the transaction touched has changed since, or the transaction is doomed.
    int commit();
    // Its commit will fail: a transaction carried over a save/restore, whose reads before
    // the move cannot be checked against the store after it.
    void doom() { doomed_ = true; }
    bool doomed() const { return doomed_; }

  private:
    void access(const std::string& path);
    void count_owner(uint32_t domid, int delta) { owner_delta_[domid] += delta; }

    NodeTree& base_;
    uint32_t id_;
    // Changed nodes: a value, or nullopt for a removed node.
    std::map<std::string, std::optional<Node>, std::less<>> changes_;
    // Every node touched, with its live generation at first touch (0: did not exist).
    std::map<std::string, uint64_t, std::less<>> accessed_;
    std::map<uint32_t, int64_t> owner_delta_;
    std::vector<WatchEvent> events_;
    uint64_t next_generation_ = 1;
    bool doomed_ = false;
};

}  // namespace xenolith::xenstored
