// Disks hot-plugged into a running guest through xenolithd, as xl does it: block-attach
// brings a second disk the guest's blkfront connects, block-list shows both in xl's
// columns, block-detach takes it out with the guest's cooperation; bad requests fail with
// one message and change nothing.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/integration/daemon_harness.hpp"

namespace xenolith::integration {
namespace {

class DaemonDevices : public DaemonTest {
  protected:
    std::string image(const std::string& name, unsigned mib) {
        std::string path = dir_.path() + "/" + name;
        std::ofstream f(path, std::ios::binary);
        f.seekp(static_cast<std::streamoff>(mib) * 1024 * 1024 - 1);
        f.put('\0');
        return path;
    }
    // The data rows of `xn block-list`.
    std::vector<std::string> block_rows(const std::string& domain) {
        ProcessResult r = xn({"block-list", domain});
        EXPECT_EQ(r.exit_code, 0) << describe(r);
        auto lines = split_lines(r.out);
        EXPECT_FALSE(lines.empty());
        if (!lines.empty()) {
            EXPECT_TRUE(starts_with(lines[0], "Vdev")) << lines[0];
        }
        return lines.empty() ? lines : std::vector<std::string>(lines.begin() + 1, lines.end());
    }
    TempDir dir_;
};

TEST_F(DaemonDevices, AttachListDetachWhileTheGuestRuns) {
    ASSERT_TRUE(start_daemon());
    std::string a = image("a.img", 8), b = image("b.img", 2);
    // It waits for two: still running after the first is detached again.
    auto id = create("blktest", "disks", "mode=wait-hotplug count=2 unplug=1 seconds=60",
                     "disk = ['" + a + ",raw,xvda,w']\n");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-disks.log", "blktest: waiting for 2 hotplug(s)", 20s))
        << read_log("guest-disks.log");
    EXPECT_NE(read_log("guest-disks.log").find("blktest: present 51712"), std::string::npos);

    auto rows = block_rows("disks");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_TRUE(starts_with(rows[0], "51712")) << rows[0];
    EXPECT_NE(rows[0].find("/local/domain/0/backend/vbd/" + std::to_string(*id) + "/51712"),
              std::string::npos)
        << rows[0];

    ProcessResult attach = xn({"block-attach", "disks", b + ",raw,xvdb,w"});
    ASSERT_EQ(attach.exit_code, 0) << describe(attach);
    ASSERT_TRUE(wait_for_log("guest-disks.log", "blktest: hotplug 51728 sectors=4096", 20s))
        << read_log("guest-disks.log");
    ASSERT_TRUE(wait_for_log("guest-disks.log", "blktest: hotplug 51728 read rc=0", 20s))
        << read_log("guest-disks.log");
    EXPECT_EQ(block_rows("disks").size(), 2u);

    ProcessResult detach = xn({"block-detach", "disks", "xvdb"});
    ASSERT_EQ(detach.exit_code, 0) << describe(detach);
    ASSERT_TRUE(wait_for_log("guest-disks.log", "blktest: unplug 51728", 20s))
        << read_log("guest-disks.log");
    rows = block_rows("disks");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_TRUE(starts_with(rows[0], "51712")) << rows[0];
}

TEST_F(DaemonDevices, BadRequestsFailWithOneMessage) {
    ASSERT_TRUE(start_daemon());
    std::string a = image("a.img", 8);
    auto id = create("blktest", "disks", "mode=wait-hotplug count=1 seconds=60",
                     "disk = ['" + a + ",raw,xvda,w']\n");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-disks.log", "blktest: waiting for 1 hotplug(s)", 20s));
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{"block-attach", "nosuch", a + ",raw,xvdb,w"}, "nosuch"},
        {{"block-attach", "disks", a + ",raw,xvda,w"}, "already has a disk xvda"},
        {{"block-attach", "disks", "/nonexistent.img,raw,xvdc,w"}, "/nonexistent.img"},
        {{"block-attach", "disks", a + ",qcow2,xvdc,w"}, "block-attach"},
        {{"block-detach", "disks", "xvdz"}, "has no disk xvdz"},
        {{"block-detach", "disks", "sideways"}, "neither a vdev nor a device id"},
        {{"block-list", "0"}, "Domain-0"},
    };
    for (const Case& c : cases) {
        ProcessResult r = xn(c.args);
        EXPECT_EQ(r.exit_code, 1) << describe(r);
        EXPECT_NE(r.err.find(c.message), std::string::npos) << describe(r);
        EXPECT_EQ(count_of(r.err, "\n"), 1u) << describe(r);
    }
    EXPECT_EQ(block_rows("disks").size(), 1u);
}

TEST_F(DaemonDevices, NetworkAttachListDetach) {
    ASSERT_TRUE(start_daemon());
    auto id = create("httpd", "web", "ip=dhcp", "vif = ['mac=00:16:3e:00:00:07']\n");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-web.log", "httpd: listening on 10.0.2.15:80", 20s))
        << read_log("guest-web.log");
    auto rows = [&] {
        ProcessResult r = xn({"network-list", "web"});
        EXPECT_EQ(r.exit_code, 0) << describe(r);
        auto lines = split_lines(r.out);
        if (!lines.empty()) lines.erase(lines.begin());  // the header
        return lines;
    };
    auto now = rows();
    ASSERT_EQ(now.size(), 1u);
    EXPECT_NE(now[0].find("00:16:3e:00:00:07"), std::string::npos) << now[0];
    EXPECT_NE(now[0].find("/local/domain/0/backend/vif/" + std::to_string(*id) + "/0"),
              std::string::npos)
        << now[0];
    // A second interface the guest never opens: listed, then detached without waiting.
    ProcessResult attach = xn({"network-attach", "web", "mac=00:16:3e:00:00:08"});
    ASSERT_EQ(attach.exit_code, 0) << describe(attach);
    now = rows();
    ASSERT_EQ(now.size(), 2u);
    EXPECT_TRUE(starts_with(now[1], "1 ")) << now[1];
    ProcessResult bad = xn({"network-detach", "web", "00:16:3e:00:00:99"});
    EXPECT_EQ(bad.exit_code, 1) << describe(bad);
    EXPECT_NE(bad.err.find("has no vif"), std::string::npos) << describe(bad);
    ProcessResult detach = xn({"network-detach", "web", "00:16:3e:00:00:08"});
    ASSERT_EQ(detach.exit_code, 0) << describe(detach);
    EXPECT_EQ(rows().size(), 1u);
    ProcessResult junk = xn({"network-attach", "web", "colour=blue"});
    EXPECT_EQ(junk.exit_code, 1) << describe(junk);
    EXPECT_NE(junk.err.find("network-attach"), std::string::npos) << describe(junk);
}

}  // namespace
}  // namespace xenolith::integration
