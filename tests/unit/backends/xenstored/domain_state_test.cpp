// A guest's part of the store carried across save/restore (domain_state.hpp): its nodes
// come back under a new domid with their permissions renumbered; its connection's session
// (a request half sent, replies not yet read, watches, open transactions) is taken up by a
// new connection, whose client sees no seam.
#include "backends/xenstored/domain_state.hpp"

#include <gtest/gtest.h>

#include "tests/unit/backends/xenstored/xs_client.hpp"

namespace xenolith::xenstored::testing {
namespace {

class DomainStateTest : public XenstoredTest {};

TEST_F(DomainStateTest, NodesComeBackUnderTheNewDomidWithTheirPermissions) {
    EXPECT_EQ(dom1.write("data/greeting", "hi"), "OK");
    EXPECT_EQ(dom1.set_perms("data/greeting", {"n1", "r2"}), "OK");
    EXPECT_EQ(dom0.write("/local/domain/1-other/x", "not its"), "OK");
    const DomainStoreState saved = daemon_.save_domain(1);
    ASSERT_FALSE(saved.nodes.empty());
    EXPECT_EQ(saved.nodes.front().path, "/local/domain/1");
    for (const auto& n : saved.nodes)
        EXPECT_EQ(n.path.rfind("/local/domain/1-other", 0), std::string::npos) << n.path;

    const DomainStoreState moved = renumbered(saved, 7);
    EXPECT_EQ(moved.domid, 7u);
    ASSERT_EQ(daemon_.restore_nodes(moved.nodes), 0);
    EXPECT_EQ(dom0.read("/local/domain/7/data/greeting"), "hi");
    EXPECT_EQ(dom0.get_perms("/local/domain/7/data/greeting"), "n7,r2");
    EXPECT_EQ(dom0.get_perms("/local/domain/7"), "n7");
}

TEST_F(DomainStateTest, NodesWhoseParentIsMissingAreRefusedWholly) {
    std::vector<SavedNode> nodes = {{"/local/domain/9/a", "1", Permissions(9)},
                                    {"/nowhere/b", "2", Permissions(9)}};
    const size_t before = daemon_.node_count();
    EXPECT_EQ(daemon_.restore_nodes(nodes), EINVAL);
    EXPECT_EQ(daemon_.node_count(), before);
    nodes = {{"/local/domain/1/bad//path", "x", Permissions(1)}};
    EXPECT_EQ(daemon_.restore_nodes(nodes), EINVAL);
}

TEST_F(DomainStateTest, ASessionCarriesAHalfSentRequestUnreadRepliesWatchesAndTransactions) {
    EXPECT_EQ(dom1.watch("data", "tok"), "OK");
    dom1.events();  // the watch's first firing
    const uint32_t tx = dom1.start();
    ASSERT_NE(tx, 0u);
    // A reply the client has not read, of which it took the first 5 bytes.
    const std::string read_req = encode_message(XS_READ, 77, 0, nul({"domid-not-there"}));
    ASSERT_EQ(dom1.conn().feed(read_req), read_req.size());
    const std::string reply = dom1.conn().take_output();
    // Saved with that reply queued, 5 bytes of it consumed, and half a request after it.
    const std::string half = encode_message(XS_WRITE, 78, 0, nul({"data/x"}) + "v");
    Session s = dom1.conn().session();
    EXPECT_EQ(s.watches.size(), 1u);
    EXPECT_EQ(s.transactions, std::vector<uint32_t>{tx});
    s.output = {{reply.substr(5), false}};
    s.partial_request = half.substr(0, 10);

    Client copy(daemon_, 1, false);
    copy.conn().restore_session(s);
    EXPECT_EQ(copy.conn().take_output(), reply.substr(5));
    // The rest of the request completes it.
    ASSERT_EQ(copy.conn().feed(std::string_view(half).substr(10)), half.size() - 10);
    std::vector<Message> out = parse_messages(copy.conn().take_output());
    ASSERT_EQ(out.size(), 2u);  // the write's reply and the watch's event for data/x
    const bool reply_first = out[0].req_id == 78u;
    EXPECT_EQ(out[reply_first ? 0 : 1].type, static_cast<uint32_t>(XS_WRITE));
    EXPECT_EQ(out[reply_first ? 1 : 0].type, static_cast<uint32_t>(XS_WATCH_EVENT));
    // The transaction is doomed: its commit fails with EAGAIN, as a conflict would.
    EXPECT_EQ(copy.end(tx, true), "EAGAIN");
    // New transactions do not reuse its id.
    EXPECT_GT(copy.start(), tx);
}

TEST_F(DomainStateTest, RenumberingLeavesOtherDomainsPathsAlone) {
    DomainStoreState s;
    s.domid = 1;
    s.nodes = {{"/local/domain/1", "", Permissions(1)},
               {"/local/domain/1/x", "", Permissions(1)},
               {"/local/domain/12/y", "", Permissions(12)},
               {"/local/domain/1/device/vbd/51712/backend", "/local/domain/0/backend/vbd/1/51712",
                Permissions(1)},
               {"/local/domain/1/device/vbd/51713/backend", "/local/domain/0/backend/vbd/12/51713",
                Permissions(1)}};
    s.session.watches = {{"/local/domain/1/control/shutdown", "t", true},
                         {"/local/domain/0/backend/vbd/1/51712/state", "b", false},
                         {"/local/domain/10", "u", false},
                         {"@releaseDomain", "v", false}};
    const DomainStoreState m = renumbered(s, 5);
    EXPECT_EQ(m.nodes[0].path, "/local/domain/5");
    EXPECT_EQ(m.nodes[1].path, "/local/domain/5/x");
    EXPECT_EQ(m.nodes[2].path, "/local/domain/12/y");
    EXPECT_EQ(m.nodes[2].perms.owner(), 12u);
    EXPECT_EQ(m.nodes[3].value, "/local/domain/0/backend/vbd/5/51712");
    EXPECT_EQ(m.nodes[4].value, "/local/domain/0/backend/vbd/12/51713") << "another domain's";
    EXPECT_EQ(m.session.watches[0].path, "/local/domain/5/control/shutdown");
    EXPECT_EQ(m.session.watches[1].path, "/local/domain/0/backend/vbd/5/51712/state");
    EXPECT_EQ(m.session.watches[2].path, "/local/domain/10");
    EXPECT_EQ(m.session.watches[3].path, "@releaseDomain");
}

// A session from a file is hostile: only what WATCH and TRANSACTION_START would have let a
// guest build is taken up.
TEST(DomainStateChecks, ASessionOutsideWhatAGuestCouldMakeIsRefused) {
    const Quotas q;
    Session s;
    s.watches = {{"/local/domain/3/control/shutdown", "t", true}, {"@releaseDomain", "r", false}};
    s.transactions = {1, 2};
    EXPECT_EQ(session_fits(s, q), 0);
    Session bad = s;
    bad.watches.push_back({"/local/domain/3/bad//path", "t", false});
    EXPECT_EQ(session_fits(bad, q), EINVAL);
    bad = s;
    bad.watches.push_back({"relative/path", "t", false});
    EXPECT_EQ(session_fits(bad, q), EINVAL);
    bad = s;
    bad.watches.assign(q.watches_per_domain + 1, {"/local/domain/3/x", "t", false});
    EXPECT_EQ(session_fits(bad, q), E2BIG);
    bad = s;
    bad.transactions.assign(q.transactions_per_domain + 1, 7);
    EXPECT_EQ(session_fits(bad, q), ENOSPC);
}

}  // namespace
}  // namespace xenolith::xenstored::testing
