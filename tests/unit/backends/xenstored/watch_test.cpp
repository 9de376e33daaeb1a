// Watches: the initial fire, changes at and below the watched path, removals, permission
// changes, permission filtering, relative watches, UNWATCH, RESET_WATCHES and the special
// @introduceDomain/@releaseDomain watches.
#include <gtest/gtest.h>

#include "tests/unit/backends/xenstored/xs_client.hpp"

namespace xenolith::xenstored::testing {
namespace {

using XenstoreWatches = XenstoredTest;

TEST_F(XenstoreWatches, FireOnceWhenSetEvenOnAMissingPath) {
    EXPECT_EQ(dom0.watch("/w/missing", "tok"), "OK");
    EXPECT_EQ(dom0.events(), (Events{"/w/missing tok"}));
    EXPECT_EQ(dom0.watch("/w/missing", "tok"), "EEXIST");
    EXPECT_EQ(dom0.watch("/w/missing", "other"), "OK");  // same path, another token
    EXPECT_EQ(dom0.events(), (Events{"/w/missing other"}));
}

TEST_F(XenstoreWatches, TheInitialEventFollowsTheReply) {
    Message reply = dom0.request(XS_WATCH, nul({"/x", "t"}));
    EXPECT_EQ(reply.payload, std::string("OK", 3));
    EXPECT_EQ(dom0.events(), (Events{"/x t"}));
}

TEST_F(XenstoreWatches, FireOnChangesAtAndBelowTheWatchedPathOnly) {
    ASSERT_EQ(dom0.watch("/w", "t"), "OK");
    dom0.events();
    ASSERT_EQ(dom0.write("/w", "1"), "OK");
    ASSERT_EQ(dom0.write("/w/a/b", "2"), "OK");
    ASSERT_EQ(dom0.mkdir("/w/c"), "OK");
    ASSERT_EQ(dom0.mkdir("/w/c"), "OK");  // no change, no event
    ASSERT_EQ(dom0.set_perms("/w/c", {"n0", "r1"}), "OK");
    ASSERT_EQ(dom0.write("/wx", "not below"), "OK");
    ASSERT_EQ(dom0.write("/other", "no"), "OK");
    EXPECT_EQ(dom0.events(), (Events{"/w t", "/w/a/b t", "/w/c t", "/w/c t"}));
}

TEST_F(XenstoreWatches, RemovalFiresTheRemovedPathAndWatchesOnRemovedDescendants) {
    ASSERT_EQ(dom0.write("/t/a/b", "x"), "OK");
    ASSERT_EQ(dom0.watch("/t", "top"), "OK");
    ASSERT_EQ(dom0.watch("/t/a/b", "leaf"), "OK");
    ASSERT_EQ(dom0.watch("/t/a/b/never", "below"), "OK");
    dom0.events();
    ASSERT_EQ(dom0.rm("/t/a"), "OK");
    EXPECT_EQ(dom0.events(), (Events{"/t/a top", "/t/a/b leaf"}));
}

TEST_F(XenstoreWatches, UnwatchStopsEventsAndUnknownWatchesAreENOENT) {
    ASSERT_EQ(dom0.watch("/u", "t"), "OK");
    EXPECT_EQ(dom0.unwatch("/u", "t"), "OK");
    dom0.events();
    ASSERT_EQ(dom0.write("/u", "x"), "OK");
    EXPECT_TRUE(dom0.events().empty());
    EXPECT_EQ(dom0.unwatch("/u", "t"), "ENOENT");
    EXPECT_EQ(dom0.unwatch("/u", "other"), "ENOENT");
}

TEST_F(XenstoreWatches, ResetWatchesDropsAllWatchesAndTransactions) {
    ASSERT_EQ(dom1.watch("/local/domain/1/a", "t"), "OK");
    ASSERT_EQ(dom1.watch("/local/domain/1/b", "t"), "OK");
    uint32_t tx = dom1.start();
    dom1.events();
    EXPECT_EQ(Client::strip(dom1.call(XS_RESET_WATCHES, nul({""}))), "OK");
    ASSERT_EQ(dom1.write("/local/domain/1/a", "x"), "OK");
    EXPECT_TRUE(dom1.events().empty());
    EXPECT_EQ(dom1.end(tx, true), "ENOENT");
    EXPECT_EQ(dom1.watch("/local/domain/1/a", "t"), "OK");  // no EEXIST: it was dropped
}

TEST_F(XenstoreWatches, RelativeWatchesReportRelativePaths) {
    ASSERT_EQ(dom1.watch("device", "rel"), "OK");
    ASSERT_EQ(dom1.watch("/local/domain/1/device", "abs"), "OK");
    EXPECT_EQ(dom1.events(), (Events{"device rel", "/local/domain/1/device abs"}));
    ASSERT_EQ(dom0.write("/local/domain/1/device/vif/0", "x"), "OK");
    EXPECT_EQ(dom1.events(), (Events{"device/vif/0 rel", "/local/domain/1/device/vif/0 abs"}));
    EXPECT_EQ(dom1.unwatch("device", "rel"), "OK");
}

TEST_F(XenstoreWatches, AGuestHearsOnlyOfNodesItMayRead) {
    ASSERT_EQ(dom1.watch("/", "root"), "OK");
    dom1.events();
    ASSERT_EQ(dom0.write("/private", "x"), "OK");
    EXPECT_TRUE(dom1.events().empty());
    ASSERT_EQ(dom0.write("/local/domain/1/mine", "x"), "OK");
    EXPECT_EQ(dom1.events(), (Events{"/local/domain/1/mine root"}));
    ASSERT_EQ(dom0.write("/local/domain/2/theirs", "x"), "OK");
    EXPECT_TRUE(dom1.events().empty());
    // Losing access is still news.
    ASSERT_EQ(dom0.write("/pub", "x"), "OK");
    ASSERT_EQ(dom0.set_perms("/pub", {"n0", "r1"}), "OK");
    ASSERT_EQ(dom0.set_perms("/pub", {"n0"}), "OK");
    EXPECT_EQ(dom1.events(), (Events{"/pub root", "/pub root"}));
    ASSERT_EQ(dom0.write("/pub", "y"), "OK");
    EXPECT_TRUE(dom1.events().empty());
}

TEST_F(XenstoreWatches, WatchPathsAreValidated) {
    EXPECT_EQ(dom0.watch("/a//b", "t"), "EINVAL");
    EXPECT_EQ(dom0.watch("/a/", "t"), "EINVAL");
    EXPECT_EQ(dom0.call(XS_WATCH, nul({"/a"})), "EINVAL");
    EXPECT_EQ(dom0.call(XS_WATCH, nul({"/a", "t", "extra"})), "EINVAL");
    EXPECT_EQ(dom0.watch("@" + std::string(XENSTORE_REL_PATH_MAX, 'x'), "t"), "EINVAL");
}

TEST_F(XenstoreWatches, IntroduceAndReleaseFireTheSpecialWatches) {
    ASSERT_EQ(dom0.watch("@introduceDomain", "intro"), "OK");
    ASSERT_EQ(dom0.watch("@releaseDomain", "rel"), "OK");
    ASSERT_EQ(dom0.watch("/", "root"), "OK");
    EXPECT_EQ(dom0.events(), (Events{"@introduceDomain intro", "@releaseDomain rel", "/ root"}));
    ASSERT_EQ(dom0.call(XS_INTRODUCE, nul({"5", "100", "2"})), std::string("OK", 3));
    EXPECT_EQ(dom0.events(), (Events{"@introduceDomain intro"}));
    ASSERT_EQ(dom0.call(XS_INTRODUCE, nul({"5", "100", "2"})), std::string("OK", 3));
    EXPECT_TRUE(dom0.events().empty());  // already introduced
    ASSERT_EQ(dom0.call(XS_RELEASE, nul({"5"})), std::string("OK", 3));
    EXPECT_EQ(dom0.events(), (Events{"@releaseDomain rel"}));
}

TEST_F(XenstoreWatches, SpecialWatchesNeedPermissionOnTheSpecialNode) {
    ASSERT_EQ(dom1.watch("@releaseDomain", "rel"), "OK");
    EXPECT_EQ(dom1.events(), (Events{"@releaseDomain rel"}));  // the initial fire always
    ASSERT_EQ(dom0.call(XS_RELEASE, nul({"2"})), std::string("OK", 3));
    EXPECT_TRUE(dom1.events().empty());
    ASSERT_EQ(dom0.set_perms("@releaseDomain", {"n0", "r1"}), "OK");
    ASSERT_EQ(dom0.call(XS_INTRODUCE, nul({"2", "4661", "3"})), std::string("OK", 3));
    ASSERT_EQ(dom0.call(XS_RELEASE, nul({"2"})), std::string("OK", 3));
    EXPECT_EQ(dom1.events(), (Events{"@releaseDomain rel"}));
}

TEST_F(XenstoreWatches, OtherConnectionsAreWoken) {
    ASSERT_EQ(dom1.watch("/local/domain/1", "t"), "OK");
    int before = dom1.wakes();
    ASSERT_EQ(dom0.write("/local/domain/1/x", "1"), "OK");
    EXPECT_GT(dom1.wakes(), before);
}

}  // namespace
}  // namespace xenolith::xenstored::testing
