// Domain bookkeeping: INTRODUCE, RELEASE, IS_DOMAIN_INTRODUCED, RESUME, the hooks to the
// hypervisor side, what a release cleans up, and the privileged-only operations.
#include <gtest/gtest.h>

#include "tests/unit/backends/xenstored/xs_client.hpp"

namespace xenolith::xenstored::testing {
namespace {

using XenstoreDomains = XenstoredTest;
const std::string kOk("OK", 3);

TEST_F(XenstoreDomains, IntroduceRecordsTheDomain) {
    EXPECT_EQ(dom0.call(XS_IS_DOMAIN_INTRODUCED, nul({"7"})), nul({"F"}));
    EXPECT_EQ(dom0.call(XS_INTRODUCE, nul({"7", "4096", "5"})), kOk);
    EXPECT_EQ(dom0.call(XS_IS_DOMAIN_INTRODUCED, nul({"7"})), nul({"T"}));
    EXPECT_EQ(dom0.call(XS_IS_DOMAIN_INTRODUCED, nul({"0"})), nul({"T"}));  // dom0 always
    EXPECT_TRUE(daemon_.domain_introduced(7));
}

TEST_F(XenstoreDomains, IntroduceArgumentsAreChecked) {
    EXPECT_EQ(dom0.call(XS_INTRODUCE, nul({"7", "4096"})), "EINVAL");
    EXPECT_EQ(dom0.call(XS_INTRODUCE, nul({"0", "4096", "5"})), "EINVAL");
    EXPECT_EQ(dom0.call(XS_INTRODUCE, nul({"32752", "4096", "5"})), "EINVAL");  // DOMID_SELF
    EXPECT_EQ(dom0.call(XS_INTRODUCE, nul({"x", "4096", "5"})), "EINVAL");
    EXPECT_EQ(dom0.call(XS_INTRODUCE, nul({"7", "-1", "5"})), "EINVAL");
    EXPECT_EQ(dom0.call(XS_IS_DOMAIN_INTRODUCED, nul({"70000"})), "EINVAL");
    EXPECT_EQ(dom0.call(XS_RELEASE, nul({"0"})), "EINVAL");
    EXPECT_EQ(dom0.call(XS_RELEASE, nul({"9"})), "ENOENT");
    EXPECT_EQ(dom0.call(XS_RESUME, nul({"9"})), "ENOENT");
    EXPECT_EQ(dom0.call(XS_RESUME, nul({"1"})), kOk);
}

TEST_F(XenstoreDomains, DomainOperationsArePrivileged) {
    EXPECT_EQ(dom1.call(XS_INTRODUCE, nul({"7", "4096", "5"})), "EACCES");
    EXPECT_EQ(dom1.call(XS_RELEASE, nul({"2"})), "EACCES");
    EXPECT_EQ(dom1.call(XS_IS_DOMAIN_INTRODUCED, nul({"2"})), "EACCES");
    EXPECT_EQ(dom1.call(XS_RESUME, nul({"2"})), "EACCES");
    EXPECT_EQ(dom1.call(XS_CONTROL, nul({"help"})), "EACCES");
    EXPECT_TRUE(daemon_.domain_introduced(2));
}

TEST_F(XenstoreDomains, ReleaseDropsTheDomainsWatchesTransactionsAndConnection) {
    ASSERT_EQ(dom1.watch("/local/domain/1", "t"), "OK");
    uint32_t tx = dom1.start();
    ASSERT_NE(tx, 0u);
    ASSERT_EQ(dom0.watch("@releaseDomain", "gone"), "OK");
    dom0.events();
    EXPECT_EQ(dom0.call(XS_RELEASE, nul({"1"})), kOk);
    EXPECT_EQ(dom0.events(), (Events{"@releaseDomain gone"}));
    EXPECT_FALSE(daemon_.domain_introduced(1));
    EXPECT_TRUE(dom1.conn().released());
    EXPECT_FALSE(dom1.conn().wants_input());
    EXPECT_EQ(dom1.conn().output_size(), 0u);
    // Its watches no longer fire and it takes no more requests.
    ASSERT_EQ(dom0.write("/local/domain/1/x", "1"), "OK");
    EXPECT_EQ(dom1.conn().output_size(), 0u);
    EXPECT_EQ(dom1.conn().feed(encode_message(XS_READ, 1, 0, nul({"/"}))), 0u);
    // Its nodes stay: removing them is the toolstack's job, as in Xen.
    EXPECT_EQ(dom0.read("/local/domain/1/x"), "1");
}

TEST_F(XenstoreDomains, HooksReachTheHypervisorSide) {
    std::vector<std::string> calls;
    DomainHooks hooks;
    hooks.introduce = [&](uint32_t domid, uint64_t frame, uint32_t evtchn) {
        calls.push_back("introduce " + std::to_string(domid) + " " + std::to_string(frame) + " " +
                        std::to_string(evtchn));
        return domid == 13 ? ENOMEM : 0;
    };
    hooks.release = [&](uint32_t domid) { calls.push_back("release " + std::to_string(domid)); };
    Xenstored daemon({}, hooks);
    Client host(daemon, 0, true);
    EXPECT_EQ(host.call(XS_INTRODUCE, nul({"12", "999", "4"})), kOk);
    EXPECT_EQ(host.call(XS_INTRODUCE, nul({"13", "999", "4"})), "ENOMEM");
    EXPECT_FALSE(daemon.domain_introduced(13));
    EXPECT_EQ(host.call(XS_RELEASE, nul({"12"})), kOk);
    EXPECT_EQ(calls,
              (std::vector<std::string>{"introduce 12 999 4", "introduce 13 999 4", "release 12"}));
}

// The hooks may create and destroy the domain's connection while the request is handled.
TEST_F(XenstoreDomains, ConnectionsMayBeCreatedFromTheIntroduceHook) {
    std::unique_ptr<Client> guest;
    DomainHooks hooks;
    Xenstored* self = nullptr;
    hooks.introduce = [&](uint32_t domid, uint64_t, uint32_t) {
        guest = std::make_unique<Client>(*self, domid, false);
        return 0;
    };
    hooks.release = [&](uint32_t) { guest.reset(); };
    Xenstored daemon({}, hooks);
    self = &daemon;
    Client host(daemon, 0, true);
    EXPECT_EQ(host.call(XS_INTRODUCE, nul({"3", "1", "1"})), kOk);
    ASSERT_TRUE(guest);
    EXPECT_EQ(daemon.connection_count(), 2u);
    EXPECT_EQ(host.call(XS_RELEASE, nul({"3"})), kOk);
    EXPECT_FALSE(guest);
    EXPECT_EQ(daemon.connection_count(), 1u);
}

TEST_F(XenstoreDomains, DomainDeathAndShutdownFromTheHypervisorSide) {
    ASSERT_EQ(dom0.watch("@releaseDomain", "r"), "OK");
    dom0.events();
    daemon_.domain_shutdown(2);
    daemon_.domain_shutdown(2);  // once per shutdown
    EXPECT_EQ(dom0.events(), (Events{"@releaseDomain r"}));
    EXPECT_EQ(dom0.call(XS_RESUME, nul({"2"})), kOk);
    daemon_.domain_shutdown(2);
    EXPECT_EQ(dom0.events(), (Events{"@releaseDomain r"}));
    EXPECT_TRUE(daemon_.domain_gone(2));
    EXPECT_FALSE(daemon_.domain_gone(2));
    EXPECT_EQ(dom0.events(), (Events{"@releaseDomain r"}));
    EXPECT_TRUE(dom2.conn().released());
}

TEST_F(XenstoreDomains, ControlAnswersItsFewCommands) {
    EXPECT_NE(dom0.call(XS_CONTROL, nul({"help"})).find("quota"), std::string::npos);
    EXPECT_EQ(dom0.call(XS_CONTROL, nul({"check"})), kOk);
    EXPECT_EQ(dom0.call(XS_CONTROL, nul({"print", "hello"})), kOk);
    EXPECT_NE(dom0.call(XS_CONTROL, nul({"quota"})).find("nodes-per-domain 1000"),
              std::string::npos);
    EXPECT_EQ(dom0.call(XS_CONTROL, nul({"no-such-command"})), "EINVAL");
    EXPECT_EQ(dom0.call(XS_CONTROL, ""), "EINVAL");
}

}  // namespace
}  // namespace xenolith::xenstored::testing
