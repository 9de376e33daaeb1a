// Transactions: isolation until commit, Xen's conflict check (EAGAIN), abort, deferred
// watch events, no nesting, and the transaction id rules.
#include <gtest/gtest.h>

#include "tests/unit/backends/xenstored/xs_client.hpp"

namespace xenolith::xenstored::testing {
namespace {

using XenstoreTransactions = XenstoredTest;

TEST_F(XenstoreTransactions, ChangesAreInvisibleUntilCommitted) {
    ASSERT_EQ(dom0.write("/t/a", "old"), "OK");
    uint32_t tx = dom0.start();
    ASSERT_NE(tx, 0u);
    EXPECT_EQ(dom0.write("/t/a", "new", tx), "OK");
    EXPECT_EQ(dom0.write("/t/b/c", "made", tx), "OK");
    EXPECT_EQ(dom0.rm("/t/a", tx), "OK");
    EXPECT_EQ(dom0.read("/t/a", tx), "ENOENT");
    EXPECT_EQ(dom0.read("/t/b/c", tx), "made");
    EXPECT_EQ(dom0.dir("/t", tx), "b");
    // Outside, nothing yet.
    EXPECT_EQ(dom0.read("/t/a"), "old");
    EXPECT_EQ(dom0.read("/t/b/c"), "ENOENT");
    EXPECT_EQ(dom0.dir("/t"), "a");
    EXPECT_EQ(dom0.end(tx, true), "OK");
    EXPECT_EQ(dom0.read("/t/a"), "ENOENT");
    EXPECT_EQ(dom0.read("/t/b/c"), "made");
    EXPECT_EQ(dom0.dir("/t"), "b");
}

TEST_F(XenstoreTransactions, AbortDiscardsEverything) {
    ASSERT_EQ(dom0.write("/t/a", "old"), "OK");
    size_t nodes = daemon_.node_count();
    uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.write("/t/a", "new", tx), "OK");
    EXPECT_EQ(dom0.write("/t/x/y/z", "new", tx), "OK");
    EXPECT_EQ(dom0.end(tx, false), "OK");
    EXPECT_EQ(dom0.read("/t/a"), "old");
    EXPECT_EQ(daemon_.node_count(), nodes);
    EXPECT_EQ(dom0.end(tx, true), "ENOENT");  // ended
}

TEST_F(XenstoreTransactions, AConflictingChangeMakesTheCommitFailWithEAGAIN) {
    ASSERT_EQ(dom0.write("/c/a", "1"), "OK");
    uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.read("/c/a", tx), "1");
    EXPECT_EQ(dom0.write("/c/b", "mine", tx), "OK");
    ASSERT_EQ(dom1.call(XS_WRITE, std::string("/c/a\0x", 6)), "EACCES");  // no effect
    ASSERT_EQ(dom0.write("/c/a", "2"), "OK");  // someone else changes what tx read
    EXPECT_EQ(dom0.end(tx, true), "EAGAIN");
    EXPECT_EQ(dom0.read("/c/b"), "ENOENT");   // nothing applied
    EXPECT_EQ(dom0.end(tx, true), "ENOENT");  // and the transaction is over
    // The retry succeeds.
    tx = dom0.start();
    EXPECT_EQ(dom0.read("/c/a", tx), "2");
    EXPECT_EQ(dom0.write("/c/b", "mine", tx), "OK");
    EXPECT_EQ(dom0.end(tx, true), "OK");
    EXPECT_EQ(dom0.read("/c/b"), "mine");
}

TEST_F(XenstoreTransactions, ASiblingCreatedMeanwhileConflictsThroughTheParent) {
    ASSERT_EQ(dom0.mkdir("/s"), "OK");
    uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.write("/s/mine", "1", tx), "OK");
    ASSERT_EQ(dom0.write("/s/theirs", "2"), "OK");
    EXPECT_EQ(dom0.end(tx, true), "EAGAIN");
}

TEST_F(XenstoreTransactions, UnrelatedChangesDoNotConflict) {
    ASSERT_EQ(dom0.write("/u/a", "1"), "OK");
    ASSERT_EQ(dom0.write("/v/b", "1"), "OK");
    uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.write("/u/a", "2", tx), "OK");
    ASSERT_EQ(dom0.write("/v/b", "2"), "OK");
    EXPECT_EQ(dom0.end(tx, true), "OK");
    EXPECT_EQ(dom0.read("/u/a"), "2");
}

TEST_F(XenstoreTransactions, TwoTransactionsOnTheSameNodeOneWins) {
    ASSERT_EQ(dom0.write("/race", "0"), "OK");
    uint32_t t1 = dom0.start();
    uint32_t t2 = dom0.start();
    EXPECT_NE(t1, t2);
    EXPECT_EQ(dom0.write("/race", "1", t1), "OK");
    EXPECT_EQ(dom0.write("/race", "2", t2), "OK");
    EXPECT_EQ(dom0.end(t1, true), "OK");
    EXPECT_EQ(dom0.end(t2, true), "EAGAIN");
    EXPECT_EQ(dom0.read("/race"), "1");
}

TEST_F(XenstoreTransactions, WatchEventsWaitForTheCommit) {
    ASSERT_EQ(dom1.watch("/local/domain/1", "t"), "OK");
    dom1.events();
    uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.write("/local/domain/1/a", "1", tx), "OK");
    EXPECT_TRUE(dom1.events().empty());
    EXPECT_EQ(dom0.end(tx, true), "OK");
    EXPECT_EQ(dom1.events(), (Events{"/local/domain/1/a t"}));
    tx = dom0.start();
    EXPECT_EQ(dom0.write("/local/domain/1/b", "1", tx), "OK");
    EXPECT_EQ(dom0.end(tx, false), "OK");
    EXPECT_TRUE(dom1.events().empty());
}

TEST_F(XenstoreTransactions, RmOfASubtreeInsideATransaction) {
    ASSERT_EQ(dom0.write("/r/a/b/c", "1"), "OK");
    ASSERT_EQ(dom0.write("/r/a/d", "1"), "OK");
    size_t nodes = daemon_.node_count();
    uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.rm("/r/a", tx), "OK");
    EXPECT_EQ(dom0.write("/r/a/new", "n", tx), "OK");
    EXPECT_EQ(dom0.dir("/r/a", tx), "new");
    EXPECT_EQ(dom0.dir("/r/a"), "b d");
    EXPECT_EQ(dom0.end(tx, true), "OK");
    EXPECT_EQ(dom0.dir("/r/a"), "new");
    EXPECT_EQ(daemon_.node_count(), nodes - 3 + 1);  // b, c and d gone; new made
}

TEST_F(XenstoreTransactions, IdsAreCheckedAndTransactionsDoNotNest) {
    EXPECT_EQ(dom0.read("/", 4242), "ENOENT");
    EXPECT_EQ(dom0.call(XS_TRANSACTION_END, nul({"T"})), "ENOENT");
    uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.call(XS_TRANSACTION_START, nul({""}), tx), "EBUSY");
    EXPECT_EQ(dom0.call(XS_TRANSACTION_END, nul({"X"}), tx), "EINVAL");
    EXPECT_EQ(dom0.call(XS_TRANSACTION_END, "", tx), "EINVAL");
    // Another connection cannot use it.
    EXPECT_EQ(dom1.read("/local/domain/1", tx), "ENOENT");
    // WATCH ignores tx_id.
    EXPECT_EQ(Client::strip(dom0.call(XS_WATCH, nul({"/w", "t"}), 9999)), "OK");
    EXPECT_EQ(dom0.end(tx, false), "OK");
}

TEST_F(XenstoreTransactions, PermissionsApplyInsideTransactions) {
    uint32_t tx = dom1.start();
    EXPECT_EQ(dom1.write("/local/domain/2/x", "y", tx), "EACCES");
    EXPECT_EQ(dom1.write("/local/domain/1/x", "y", tx), "OK");
    EXPECT_EQ(dom1.end(tx, true), "OK");
    EXPECT_EQ(dom0.get_perms("/local/domain/1/x"), "n1");
}

}  // namespace
}  // namespace xenolith::xenstored::testing
