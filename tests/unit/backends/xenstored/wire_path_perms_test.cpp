// The building blocks: Xen's error names, payload strings, path rules and the permission
// model's text form and access rules.
#include <gtest/gtest.h>

#include "backends/xenstored/path.hpp"
#include "backends/xenstored/permissions.hpp"
#include "backends/xenstored/wire.hpp"

namespace xenolith::xenstored {
namespace {

TEST(XenstoreWire, ErrorNamesComeFromXsWire) {
    EXPECT_EQ(error_name(EACCES), "EACCES");
    EXPECT_EQ(error_name(EAGAIN), "EAGAIN");
    EXPECT_EQ(error_name(E2BIG), "E2BIG");
    EXPECT_EQ(error_name(ENOSPC), "ENOSPC");
    EXPECT_EQ(error_name(ENAMETOOLONG), "EINVAL");  // untranslatable, as Xen answers
    EXPECT_EQ(error_from_name("ENOENT"), ENOENT);
    EXPECT_FALSE(error_from_name("EQUOTA").has_value());
}

TEST(XenstoreWire, SplitStringsIgnoresBytesAfterTheLastNul) {
    using V = std::vector<std::string_view>;
    EXPECT_EQ(split_strings(std::string_view("a\0b\0", 4)), (V{"a", "b"}));
    EXPECT_EQ(split_strings(std::string_view("a\0junk", 6)), (V{"a"}));
    EXPECT_EQ(split_strings(std::string_view("\0", 1)), (V{""}));
    EXPECT_TRUE(split_strings("").empty());
    EXPECT_EQ(single_string(std::string_view("/a\0", 3)), "/a");
    EXPECT_FALSE(single_string(std::string_view("/a\0b\0", 5)).has_value());
    EXPECT_FALSE(single_string("/a").has_value());
    EXPECT_FALSE(single_string("").has_value());
}

TEST(XenstoreWire, DecimalsAreStrict) {
    EXPECT_EQ(parse_decimal("65535", 65535), 65535u);
    EXPECT_FALSE(parse_decimal("65536", 65535).has_value());
    EXPECT_FALSE(parse_decimal("-1", 65535).has_value());
    EXPECT_FALSE(parse_decimal("1 ", 65535).has_value());
    EXPECT_FALSE(parse_decimal("", 65535).has_value());
    EXPECT_FALSE(parse_decimal("99999999999999999999999", UINT64_MAX).has_value());
    EXPECT_EQ(parse_decimal("18446744073709551615", UINT64_MAX), UINT64_MAX);
    EXPECT_FALSE(parse_decimal("18446744073709551616", UINT64_MAX).has_value());
    EXPECT_FALSE(parse_decimal("7", 5).has_value());
}

TEST(XenstorePath, ValidityFollowsXensRules) {
    EXPECT_TRUE(is_valid_node_path("/", SIZE_MAX));
    EXPECT_TRUE(is_valid_node_path("/local/domain/1/device/vif-0/x_y@z", SIZE_MAX));
    EXPECT_FALSE(is_valid_node_path("", SIZE_MAX));
    EXPECT_FALSE(is_valid_node_path("a", SIZE_MAX));
    EXPECT_FALSE(is_valid_node_path("/a/", SIZE_MAX));
    EXPECT_FALSE(is_valid_node_path("/a//b", SIZE_MAX));
    EXPECT_FALSE(is_valid_node_path("/a b", SIZE_MAX));
    EXPECT_FALSE(is_valid_node_path("/a.b", SIZE_MAX));
    EXPECT_FALSE(is_valid_node_path(std::string("/a\0b", 4), SIZE_MAX));
    EXPECT_TRUE(is_valid_node_path("/" + std::string(XENSTORE_ABS_PATH_MAX - 1, 'a'), SIZE_MAX));
    EXPECT_FALSE(is_valid_node_path("/" + std::string(XENSTORE_ABS_PATH_MAX, 'a'), SIZE_MAX));
    // The path-length quota counts only what lies below /local/domain/<id>/.
    std::string local = "/local/domain/7/" + std::string(10, 'x');
    EXPECT_TRUE(is_valid_node_path(local, 10));
    EXPECT_FALSE(is_valid_node_path(local + "y", 10));
}

TEST(XenstorePath, RelativePathsResolveAgainstTheDomainPath) {
    EXPECT_EQ(domain_path(3), "/local/domain/3");
    EXPECT_EQ(canonicalize("device/vbd", 3), "/local/domain/3/device/vbd");
    EXPECT_EQ(canonicalize("/abs", 3), "/abs");
    EXPECT_EQ(canonicalize("@releaseDomain", 3), "@releaseDomain");
    EXPECT_EQ(parent_of("/a/b"), "/a");
    EXPECT_EQ(parent_of("/a"), "/");
    EXPECT_EQ(basename_of("/a/b"), "b");
    EXPECT_EQ(child_of("/", "a"), "/a");
    EXPECT_EQ(child_of("/a", "b"), "/a/b");
    EXPECT_TRUE(is_at_or_below("/a/b", "/a"));
    EXPECT_TRUE(is_at_or_below("/a", "/a"));
    EXPECT_TRUE(is_at_or_below("/a", "/"));
    EXPECT_FALSE(is_at_or_below("/ab", "/a"));
    EXPECT_FALSE(is_at_or_below("/a", "/a/b"));
}

TEST(XenstorePermissions, TextFormRoundTrips) {
    auto p = Permissions::parse({"n0", "r1", "w2", "b3"});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->text(), "n0,r1,w2,b3");
    EXPECT_EQ(p->wire(), std::string("n0\0r1\0w2\0b3\0", 12));
    EXPECT_EQ(p->owner(), 0u);
    EXPECT_FALSE(Permissions::parse({}).has_value());
    EXPECT_FALSE(Permissions::parse({"x1"}).has_value());
    EXPECT_FALSE(Permissions::parse({"r"}).has_value());
    EXPECT_FALSE(Permissions::parse({"r-1"}).has_value());
    EXPECT_FALSE(Permissions::parse({"r65536"}).has_value());
    EXPECT_FALSE(Permissions::parse({"r1x"}).has_value());
}

TEST(XenstorePermissions, OwnerPrivilegedListedAndDefault) {
    auto p = *Permissions::parse({"r5", "w6", "n7", "b8"});
    const unsigned all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
    EXPECT_EQ(p.rights({5, false, {}}), all);                      // owner
    EXPECT_EQ(p.rights({9, true, {}}), all);                       // privileged
    EXPECT_EQ(p.rights({6, false, {}}), unsigned{XS_PERM_WRITE});  // listed
    EXPECT_EQ(p.rights({7, false, {}}), unsigned{XS_PERM_NONE});
    EXPECT_EQ(p.rights({8, false, {}}), unsigned{XS_PERM_READ | XS_PERM_WRITE});
    EXPECT_EQ(p.rights({9, false, {}}), unsigned{XS_PERM_READ});  // default
    EXPECT_EQ(p.rights({9, false, 5}), all);                      // device model of the owner
    EXPECT_EQ(p.rights({9, false, 6}), unsigned{XS_PERM_WRITE});
}

}  // namespace
}  // namespace xenolith::xenstored
