// Per-domain quotas, each with Xen's error, binding guests but not dom0; and the output
// bounds that bind every connection.
#include <gtest/gtest.h>

#include "tests/unit/backends/xenstored/xs_client.hpp"

namespace xenolith::xenstored::testing {
namespace {

Quotas small_quotas() {
    Quotas q;
    q.nodes_per_domain = 5;
    q.value_size = 16;
    q.watches_per_domain = 3;
    q.transactions_per_domain = 2;
    q.perms_per_node = 3;
    q.nodes_per_transaction = 8;
    q.path_length = 40;
    q.outstanding_requests = 4;
    q.queued_watch_events = 6;
    return q;
}

class XenstoreQuotas : public XenstoredTest {
  protected:
    XenstoreQuotas() : XenstoredTest(small_quotas()) {}
    const std::string home = "/local/domain/1/";
};

TEST_F(XenstoreQuotas, NodesPerDomainIsENOSPC) {
    // dom1 owns /local/domain/1 already (SetUp gave it away): four more fit.
    EXPECT_EQ(dom1.write(home + "a", ""), "OK");
    EXPECT_EQ(dom1.write(home + "b/c", ""), "OK");      // two nodes
    EXPECT_EQ(dom1.write(home + "d/e", ""), "ENOSPC");  // would make six
    EXPECT_EQ(dom1.read(home + "d"), "ENOENT");         // and nothing was half-made
    EXPECT_EQ(dom1.mkdir(home + "d"), "OK");
    EXPECT_EQ(dom1.mkdir(home + "e"), "ENOSPC");
    EXPECT_EQ(dom1.write(home + "a", "changing is fine"), "OK");
    EXPECT_EQ(dom1.rm(home + "b"), "OK");  // removal frees quota
    EXPECT_EQ(dom1.mkdir(home + "e"), "OK");
    // dom0 is not bound.
    for (int i = 0; i < 10; ++i) EXPECT_EQ(dom0.mkdir("/many/" + std::to_string(i)), "OK");
}

TEST_F(XenstoreQuotas, ValueSizeIsENOSPC) {
    EXPECT_EQ(dom1.write(home + "v", std::string(16, 'x')), "OK");
    EXPECT_EQ(dom1.write(home + "v", std::string(17, 'x')), "ENOSPC");
    EXPECT_EQ(dom1.read(home + "v"), std::string(16, 'x'));
    EXPECT_EQ(dom0.write("/v", std::string(4000, 'x')), "OK");
}

TEST_F(XenstoreQuotas, WatchesPerDomainIsE2BIG) {
    EXPECT_EQ(dom1.watch("/a", "1"), "OK");
    EXPECT_EQ(dom1.watch("/b", "1"), "OK");
    EXPECT_EQ(dom1.watch("/c", "1"), "OK");
    EXPECT_EQ(dom1.watch("/d", "1"), "E2BIG");
    EXPECT_EQ(dom1.unwatch("/a", "1"), "OK");
    EXPECT_EQ(dom1.watch("/d", "1"), "OK");
    for (int i = 0; i < 10; ++i) EXPECT_EQ(dom0.watch("/x", std::to_string(i)), "OK");
}

TEST_F(XenstoreQuotas, TransactionsPerDomainIsENOSPC) {
    uint32_t a = dom1.start();
    uint32_t b = dom1.start();
    EXPECT_NE(a, 0u);
    EXPECT_NE(b, 0u);
    EXPECT_EQ(dom1.call(XS_TRANSACTION_START, nul({""})), "ENOSPC");
    EXPECT_EQ(dom1.end(a, false), "OK");
    EXPECT_NE(dom1.start(), 0u);
    for (int i = 0; i < 5; ++i) EXPECT_NE(dom0.start(), 0u);
}

TEST_F(XenstoreQuotas, PermissionEntriesPerNodeIsENOSPC) {
    ASSERT_EQ(dom1.write(home + "p", ""), "OK");
    EXPECT_EQ(dom1.set_perms(home + "p", {"n1", "r2", "r3"}), "OK");
    EXPECT_EQ(dom1.set_perms(home + "p", {"n1", "r2", "r3", "r4"}), "ENOSPC");
    EXPECT_EQ(dom0.set_perms(home + "p", {"n1", "r2", "r3", "r4", "r5"}), "OK");
}

TEST_F(XenstoreQuotas, NodesPerTransactionIsENOSPC) {
    uint32_t tx = dom1.start();
    std::string last;
    for (int i = 0; i < 20 && last != "ENOSPC"; ++i) last = dom1.read(home + std::to_string(i), tx);
    EXPECT_EQ(last, "ENOSPC");
    EXPECT_EQ(dom1.end(tx, false), "OK");
}

TEST_F(XenstoreQuotas, PathLengthBelowTheDomainPathIsEINVAL) {
    EXPECT_EQ(dom1.write(home + std::string(40, 'a'), ""), "OK");
    EXPECT_EQ(dom1.write(home + std::string(41, 'a'), ""), "EINVAL");
    EXPECT_EQ(dom1.watch(home + std::string(41, 'a'), "t"), "EINVAL");
    EXPECT_EQ(dom0.write(home + std::string(41, 'a'), ""), "OK");
}

TEST_F(XenstoreQuotas, OutstandingRepliesStopReadingUntilTheTransportDrains) {
    std::string batch;
    for (uint32_t i = 0; i < 10; ++i) batch += encode_message(XS_READ, i, 0, nul({"/"}));
    size_t taken = dom0.conn().feed(batch);
    EXPECT_EQ(taken, batch.size() / 10 * 4);  // four requests answered, then it stops
    EXPECT_FALSE(dom0.conn().wants_input());
    EXPECT_EQ(dom0.conn().feed(std::string_view(batch).substr(taken)), 0u);
    auto first = parse_messages(dom0.conn().take_output());
    EXPECT_EQ(first.size(), 4u);
    EXPECT_TRUE(dom0.conn().wants_input());
    taken += dom0.conn().feed(std::string_view(batch).substr(taken));
    taken += dom0.conn().feed(std::string_view(batch).substr(taken));
    EXPECT_EQ(parse_messages(dom0.conn().take_output()).size(), 4u);
    taken += dom0.conn().feed(std::string_view(batch).substr(taken));
    EXPECT_EQ(taken, batch.size());
    EXPECT_EQ(parse_messages(dom0.conn().take_output()).size(), 2u);
}

TEST_F(XenstoreQuotas, QueuedWatchEventsAreBoundedForEveryConnection) {
    ASSERT_EQ(dom0.watch("/flood", "t"), "OK");
    Client writer(daemon_, 0, true);
    for (int i = 0; i < 20; ++i) ASSERT_EQ(writer.write("/flood", std::to_string(i)), "OK");
    // The initial event was taken already; six changes fit, the other fourteen are dropped.
    EXPECT_EQ(dom0.events().size(), 1u + 6u);
    ASSERT_EQ(writer.write("/flood", "after"), "OK");
    EXPECT_EQ(dom0.events(), (Events{"/flood t"}));  // drained: events flow again
}

}  // namespace
}  // namespace xenolith::xenstored::testing
