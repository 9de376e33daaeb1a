// Permissions on every operation: owner, read, write, none and the default entry; what a
// new node inherits; what a domain may change; existence hidden from those who may not see.
#include <gtest/gtest.h>

#include "tests/unit/backends/xenstored/xs_client.hpp"

namespace xenolith::xenstored::testing {
namespace {

using XenstoreAccess = XenstoredTest;

TEST_F(XenstoreAccess, AGuestSeesNothingOutsideWhatItsGiven) {
    ASSERT_EQ(dom0.write("/secret", "s"), "OK");  // inherits "/": n0
    EXPECT_EQ(dom1.read("/secret"), "EACCES");
    EXPECT_EQ(dom1.write("/secret", "x"), "EACCES");
    EXPECT_EQ(dom1.dir("/"), "EACCES");
    EXPECT_EQ(dom1.get_perms("/secret"), "EACCES");
    EXPECT_EQ(dom1.rm("/secret"), "EACCES");
    EXPECT_EQ(dom1.mkdir("/newtop"), "EACCES");
    EXPECT_EQ(dom0.read("/secret"), "s");
}

TEST_F(XenstoreAccess, OwnerHasEverythingOnItsOwnSubtree) {
    EXPECT_EQ(dom1.write("/local/domain/1/data", "mine"), "OK");
    EXPECT_EQ(dom1.read("/local/domain/1/data"), "mine");
    EXPECT_EQ(dom1.dir("/local/domain/1"), "data");
    EXPECT_EQ(dom1.rm("/local/domain/1/data"), "OK");
    EXPECT_EQ(dom2.read("/local/domain/1"), "EACCES");
    EXPECT_EQ(dom2.write("/local/domain/1/x", "y"), "EACCES");
}

TEST_F(XenstoreAccess, ReadWriteBothAndNoneEntries) {
    ASSERT_EQ(dom0.write("/shared/r", "r"), "OK");
    ASSERT_EQ(dom0.write("/shared/w", "w"), "OK");
    ASSERT_EQ(dom0.write("/shared/b", "b"), "OK");
    ASSERT_EQ(dom0.write("/shared/n", "n"), "OK");
    ASSERT_EQ(dom0.set_perms("/shared/r", {"n0", "r1"}), "OK");
    ASSERT_EQ(dom0.set_perms("/shared/w", {"n0", "w1"}), "OK");
    ASSERT_EQ(dom0.set_perms("/shared/b", {"n0", "b1"}), "OK");
    ASSERT_EQ(dom0.set_perms("/shared/n", {"r0", "n1"}), "OK");  // default read, 1 excluded

    EXPECT_EQ(dom1.read("/shared/r"), "r");
    EXPECT_EQ(dom1.write("/shared/r", "x"), "EACCES");
    EXPECT_EQ(dom1.read("/shared/w"), "EACCES");
    EXPECT_EQ(dom1.write("/shared/w", "x"), "OK");
    EXPECT_EQ(dom1.read("/shared/b"), "b");
    EXPECT_EQ(dom1.write("/shared/b", "y"), "OK");
    EXPECT_EQ(dom1.read("/shared/n"), "EACCES");
    EXPECT_EQ(dom2.read("/shared/n"), "n");  // the default entry
    EXPECT_EQ(dom2.read("/shared/r"), "EACCES");
}

TEST_F(XenstoreAccess, NewNodesInheritTheParentsListAndGuestsOwnWhatTheyCreate) {
    ASSERT_EQ(dom0.mkdir("/backend"), "OK");
    ASSERT_EQ(dom0.set_perms("/backend", {"n0", "b1", "r2"}), "OK");
    EXPECT_EQ(dom0.write("/backend/by0", ""), "OK");
    EXPECT_EQ(dom0.get_perms("/backend/by0"), "n0,b1,r2");  // dom0 keeps the parent's owner
    EXPECT_EQ(dom1.write("/backend/by1/deep", "x"), "OK");
    EXPECT_EQ(dom0.get_perms("/backend/by1"), "n1,b1,r2");  // owner replaced by the creator
    EXPECT_EQ(dom0.get_perms("/backend/by1/deep"), "n1,b1,r2");
    EXPECT_EQ(dom2.read("/backend/by1/deep"), "x");
    EXPECT_EQ(dom2.write("/backend/by2", "x"), "EACCES");
}

TEST_F(XenstoreAccess, ExistenceIsHiddenFromThoseWhoCannotLook) {
    // Under a node dom1 may read, a missing child is ENOENT; under one it may not, EACCES.
    EXPECT_EQ(dom1.read("/local/domain/1/missing"), "ENOENT");
    EXPECT_EQ(dom1.read("/local/domain/2/missing"), "EACCES");
    EXPECT_EQ(dom1.read("/nothing/here"), "EACCES");
    EXPECT_EQ(dom1.rm("/local/domain/1/missing"), "OK");
}

TEST_F(XenstoreAccess, OnlyTheOwnerChangesPermissionsAndNeverTheOwner) {
    ASSERT_EQ(dom1.write("/local/domain/1/p", "v"), "OK");
    EXPECT_EQ(dom1.set_perms("/local/domain/1/p", {"n1", "r2"}), "OK");
    EXPECT_EQ(dom2.read("/local/domain/1/p"), "v");
    EXPECT_EQ(dom1.set_perms("/local/domain/1/p", {"n2"}), "EPERM");  // give it away
    EXPECT_EQ(dom2.set_perms("/local/domain/1/p", {"n1", "b2"}), "EACCES");
    ASSERT_EQ(dom0.set_perms("/local/domain/1/p", {"n1", "b2"}), "OK");
    EXPECT_EQ(dom2.set_perms("/local/domain/1/p", {"n1", "b2"}), "EACCES");  // b is not owner
    EXPECT_EQ(dom0.set_perms("/local/domain/1/p", {"n2"}), "OK");            // dom0 may
    EXPECT_EQ(dom2.set_perms("/local/domain/1/p", {"n2", "r1"}), "OK");
    // Special nodes: only dom0 owns them.
    EXPECT_EQ(dom1.set_perms("@releaseDomain", {"r1"}), "EACCES");
    EXPECT_EQ(dom1.get_perms("@releaseDomain"), "EACCES");
}

TEST_F(XenstoreAccess, ADeviceModelActsForItsTarget) {
    ASSERT_EQ(dom1.write("/local/domain/1/dm", "x"), "OK");
    EXPECT_EQ(dom2.read("/local/domain/1/dm"), "EACCES");
    EXPECT_EQ(dom0.call(XS_SET_TARGET, nul({"2", "1"})), std::string("OK", 3));
    EXPECT_EQ(dom2.read("/local/domain/1/dm"), "x");
    EXPECT_EQ(dom2.write("/local/domain/1/dm", "y"), "OK");
    EXPECT_EQ(dom1.call(XS_SET_TARGET, nul({"1", "2"})), "EACCES");
    EXPECT_EQ(dom0.call(XS_SET_TARGET, nul({"9", "1"})), "ENOENT");
    EXPECT_EQ(dom0.call(XS_SET_TARGET, nul({"2"})), "EINVAL");
}

}  // namespace
}  // namespace xenolith::xenstored::testing
