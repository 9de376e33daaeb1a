// READ, WRITE, MKDIR, RM, DIRECTORY, DIRECTORY_PART, GET_PERMS, SET_PERMS on the wire, as
// docs/misc/xenstore.txt specifies them.
#include <gtest/gtest.h>

#include "tests/unit/backends/xenstored/xs_client.hpp"

namespace xenolith::xenstored::testing {
namespace {

using XenstoreNodeOps = XenstoredTest;

TEST_F(XenstoreNodeOps, StartsWithXensInitialNodes) {
    EXPECT_EQ(dom0.dir("/"), "local tool");
    EXPECT_EQ(dom0.dir("/tool"), "xenstored");
    EXPECT_EQ(dom0.read("/"), "");
    EXPECT_EQ(dom0.get_perms("/"), "n0");
}

TEST_F(XenstoreNodeOps, WriteCreatesParentsAndReadReturnsTheBytes) {
    EXPECT_EQ(dom0.write("/a/b/c", "hello"), "OK");
    EXPECT_EQ(dom0.read("/a/b/c"), "hello");
    EXPECT_EQ(dom0.read("/a/b"), "");
    EXPECT_EQ(dom0.dir("/a"), "b");
    // Values are binary: embedded NULs survive, no terminator is added.
    EXPECT_EQ(dom0.write("/bin", std::string("x\0y", 3)), "OK");
    EXPECT_EQ(dom0.read("/bin"), std::string("x\0y", 3));
    EXPECT_EQ(dom0.write("/a/b/c", ""), "OK");
    EXPECT_EQ(dom0.read("/a/b/c"), "");
}

TEST_F(XenstoreNodeOps, ReadOfAMissingNodeIsENOENT) {
    EXPECT_EQ(dom0.read("/nope"), "ENOENT");
    EXPECT_EQ(dom0.dir("/nope"), "ENOENT");
    EXPECT_EQ(dom0.get_perms("/nope"), "ENOENT");
    EXPECT_EQ(dom0.set_perms("/nope", {"n0"}), "ENOENT");
}

TEST_F(XenstoreNodeOps, InvalidPathsAreEINVAL) {
    for (std::string_view bad : {"/a/", "/a//b", "/a b", "", "/a.b", "@releaseDomain"}) {
        EXPECT_EQ(dom0.read(bad), "EINVAL") << bad;
        EXPECT_EQ(dom0.write(bad, "x"), "EINVAL") << bad;
        EXPECT_EQ(dom0.mkdir(bad), "EINVAL") << bad;
        EXPECT_EQ(dom0.rm(bad), "EINVAL") << bad;
    }
    EXPECT_EQ(dom0.write("/" + std::string(XENSTORE_ABS_PATH_MAX, 'a'), "x"), "EINVAL");
}

TEST_F(XenstoreNodeOps, MkdirLeavesExistingValuesAlone) {
    EXPECT_EQ(dom0.write("/m/n", "v"), "OK");
    EXPECT_EQ(dom0.mkdir("/m/n"), "OK");
    EXPECT_EQ(dom0.read("/m/n"), "v");
    EXPECT_EQ(dom0.mkdir("/m/o/p"), "OK");
    EXPECT_EQ(dom0.dir("/m"), "n o");
}

TEST_F(XenstoreNodeOps, RmRemovesTheSubtreeAndNeedsOnlyTheParent) {
    EXPECT_EQ(dom0.write("/r/a/b", "1"), "OK");
    EXPECT_EQ(dom0.write("/r/a/c", "2"), "OK");
    EXPECT_EQ(dom0.write("/r/a-b", "3"), "OK");
    size_t before = daemon_.node_count();
    EXPECT_EQ(dom0.rm("/r/a"), "OK");
    EXPECT_EQ(daemon_.node_count(), before - 3);
    EXPECT_EQ(dom0.read("/r/a/b"), "ENOENT");
    EXPECT_EQ(dom0.dir("/r"), "a-b");
    EXPECT_EQ(dom0.rm("/r/a"), "OK");        // already gone, parent exists
    EXPECT_EQ(dom0.rm("/r/x/y"), "ENOENT");  // parent missing too
    EXPECT_EQ(dom0.rm("/"), "EINVAL");
}

TEST_F(XenstoreNodeOps, DirectoryListsImmediateChildrenSorted) {
    for (auto p : {"/d/b", "/d/a/deep/er", "/d/a-x", "/d/c"}) EXPECT_EQ(dom0.write(p, ""), "OK");
    EXPECT_EQ(dom0.dir("/d"), "a a-x b c");
    EXPECT_EQ(dom0.dir("/d/c"), "");
}

TEST_F(XenstoreNodeOps, DirectoryTooBigIsE2BIGAndDirectoryPartPagesThrough) {
    // 300 children of 20 bytes each: 6300 bytes of names, more than one payload.
    std::vector<std::string> names;
    for (int i = 0; i < 300; ++i) {
        char name[32];
        std::snprintf(name, sizeof(name), "child-%013d", i);
        names.push_back(name);
        ASSERT_EQ(dom0.write("/big/" + names.back(), ""), "OK");
    }
    EXPECT_EQ(dom0.dir("/big"), "E2BIG");

    std::vector<std::string> got;
    std::string generation;
    uint64_t offset = 0;
    for (int round = 0; round < 10; ++round) {
        Message m = dom0.request(XS_DIRECTORY_PART, nul({"/big", std::to_string(offset)}));
        ASSERT_EQ(m.type, static_cast<uint32_t>(XS_DIRECTORY_PART));
        ASSERT_LE(m.payload.size(), size_t{XENSTORE_PAYLOAD_MAX});
        auto strings = split_strings(m.payload);
        ASSERT_GE(strings.size(), 1u);
        if (generation.empty()) generation = strings[0];
        EXPECT_EQ(strings[0], generation);   // unchanged between reads
        bool last = strings.back().empty();  // the list ends with an empty string
        for (size_t i = 1; i < strings.size(); ++i) {
            if (!strings[i].empty()) {
                got.emplace_back(strings[i]);
                offset += strings[i].size() + 1;
            }
        }
        if (last) break;
    }
    EXPECT_EQ(got, names);
    // Past the end: the generation and an empty list.
    Message end = dom0.request(XS_DIRECTORY_PART, nul({"/big", "999999"}));
    EXPECT_EQ(end.payload, generation + std::string("\0\0", 2));
    // A change moves the generation.
    ASSERT_EQ(dom0.write("/big/new", ""), "OK");
    Message after = dom0.request(XS_DIRECTORY_PART, nul({"/big", "0"}));
    EXPECT_NE(split_strings(after.payload)[0], generation);
    EXPECT_EQ(dom0.call(XS_DIRECTORY_PART, nul({"/big"})), "EINVAL");
    EXPECT_EQ(dom0.call(XS_DIRECTORY_PART, nul({"/big", "x"})), "EINVAL");
}

TEST_F(XenstoreNodeOps, SetPermsReplacesTheListAndGetPermsReportsIt) {
    EXPECT_EQ(dom0.write("/p", "v"), "OK");
    EXPECT_EQ(dom0.set_perms("/p", {"r0", "b1", "w2"}), "OK");
    EXPECT_EQ(dom0.get_perms("/p"), "r0,b1,w2");
    EXPECT_EQ(dom0.set_perms("/p", {"q1"}), "EINVAL");
    EXPECT_EQ(dom0.set_perms("/p", {}), "EINVAL");
    EXPECT_EQ(dom0.get_perms("/p"), "r0,b1,w2");
    EXPECT_EQ(dom0.get_perms("@releaseDomain"), "n0");
    EXPECT_EQ(dom0.set_perms("@releaseDomain", {"n0", "r1"}), "OK");
    EXPECT_EQ(dom0.get_perms("@releaseDomain"), "n0,r1");
    EXPECT_EQ(dom0.get_perms("@nothing"), "ENOENT");
}

TEST_F(XenstoreNodeOps, DomainPathsAndRelativePaths) {
    EXPECT_EQ(dom1.call(XS_GET_DOMAIN_PATH, nul({"7"})), nul({"/local/domain/7"}));
    EXPECT_EQ(dom1.call(XS_GET_DOMAIN_PATH, nul({"x"})), "EINVAL");
    EXPECT_EQ(dom1.write("device/vif", "up"), "OK");
    EXPECT_EQ(dom0.read("/local/domain/1/device/vif"), "up");
    EXPECT_EQ(dom1.read("device/vif"), "up");
    EXPECT_EQ(dom1.dir("device"), "vif");
    // The socket's clients are domid 0: their relative paths live under /local/domain/0.
    EXPECT_EQ(dom0.write("name", "Domain-0"), "OK");
    EXPECT_EQ(dom0.read("/local/domain/0/name"), "Domain-0");
}

}  // namespace
}  // namespace xenolith::xenstored::testing
