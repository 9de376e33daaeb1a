// The store's nodes: a value and permissions at each absolute path, every parent of an
// existing node existing too. NodeView is what operations see, so that the same code
// runs on the live tree and inside a transaction (transaction.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "backends/xenstored/permissions.hpp"

namespace xenolith::xenstored {

struct Node {
    std::string value;
    Permissions perms;
    // Bumped on every change to the node, including a child's creation or removal:
    // DIRECTORY_PART's <gencnt> and the transaction conflict check.
    uint64_t generation = 0;
};

class NodeView {
  public:
    virtual ~NodeView() = default;
    // The node at `path`, or nullptr. Valid until the next change through this view.
    virtual const Node* find(const std::string& path) = 0;
    // Creates or replaces the node (its generation is assigned here). The parent must exist.
    virtual void put(const std::string& path, const Node& node) = 0;
    // Removes one node, which must exist and have no children.
    virtual void erase(const std::string& path) = 0;
    // Leaf names of the node's children, sorted.
    virtual std::vector<std::string> children(const std::string& path) = 0;
    // How many nodes list `domid` as their owner (the node quota's count).
    virtual uint32_t owned_by(uint32_t domid) = 0;
};

// The live tree: nodes in one ordered map keyed by path, so that a node's subtree is one
// contiguous key range and no child lists need keeping in step.
class NodeTree final : public NodeView {
  public:
    // The root "/" owned by dom0 with no access for others, and "/tool/xenstored" beneath
    // it, as Xen's xenstored starts.
    NodeTree();

    const Node* find(const std::string& path) override;
    void put(const std::string& path, const Node& node) override;
    void erase(const std::string& path) override;
    std::vector<std::string> children(const std::string& path) override;
    uint32_t owned_by(uint32_t domid) override;

    // The node at `path` and every node beneath it, parents before children (a parent's path
    // is a prefix of its children's, so it sorts first); empty when there is none.
    std::vector<std::pair<std::string, Node>> subtree(const std::string& path) const;
    // The node's generation, 0 when it does not exist.
    uint64_t generation_of(const std::string& path) const;
    size_t size() const { return nodes_.size(); }

  private:
    void touch(const std::string& path);  // a new generation for an existing node
    void count_owner(uint32_t domid, int delta);

    std::map<std::string, Node, std::less<>> nodes_;
    std::map<uint32_t, uint32_t> owned_;
    uint64_t next_generation_ = 1;
};

}  // namespace xenolith::xenstored
