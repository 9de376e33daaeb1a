// A domain's life in xenstore: its standard nodes appear when it is created, the guest's
// ring is served, and everything goes (with @releaseDomain) when it is destroyed. Also
// Debian's xenstore-ls listing a running guest through `xn run --xenstore-socket`.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "base/error.hpp"
#include "tests/integration/harness.hpp"
#include "toolstack/launch/store_service.hpp"

namespace xenolith::integration {
namespace {

class Store : public IntegrationTest {
protected:
    hv::Hypervisor hv_;
    launch::StoreService store_{hv_};
};

TEST_F(Store, ADomainGetsItsNodesAndLosesThemWhenDestroyed) {
    std::string dom;
    {
        ApiGuest g(hv_, "hello", "sleep_ms=10000", 2, 32, "stored", &store_);
        dom = "/local/domain/" + std::to_string(g.domain().id());
        EXPECT_EQ(store_.read(dom + "/name"), "stored");
        EXPECT_EQ(store_.read(dom + "/domid"), std::to_string(g.domain().id()));
        EXPECT_EQ(store_.read(dom + "/memory/target"), "32768");
        EXPECT_EQ(store_.read(dom + "/cpu/1/availability"), "online");
        EXPECT_EQ(store_.read(dom + "/console/type"), "xenconsoled");
        EXPECT_EQ(store_.read(dom + "/control/shutdown"), "");
        std::string vm = store_.read(dom + "/vm");
        EXPECT_EQ(store_.read(vm + "/name"), "stored");
        EXPECT_TRUE(store_.daemon().domain_introduced(g.domain().id()));
        g.start();
        ASSERT_TRUE(g.console().wait_for("hello: vcpus=2", 5s)) << g.console().text();
    }
    // Destroyed: the nodes and the introduction are gone.
    EXPECT_THROW(store_.read(dom + "/name"), Error);
    EXPECT_THROW(store_.read(dom), Error);
}

TEST_F(Store, XenstoreLsFromDebianListsARunningGuest) {
    TempDir dir;
    std::string socket = dir.path() + "/xs.sock";
    std::string cfg = dir.write("hello.cfg", app_config("hello", "sleep_ms=3000").text());
    ProcessResult ls;
    bool listed = false;
    ProcessResult run = xn_run(cfg, {"--xenstore-socket", socket}, 20s,
                               [&](pid_t, const ProcessResult& sofar) {
                                   if (listed || sofar.out.find("Hello from Pumice!") == std::string::npos)
                                       return;
                                   listed = true;
                                   ls = run_process({"/usr/bin/env", "XENSTORED_PATH=" + socket,
                                                     "xenstore-ls", "-f", "/local/domain"},
                                                    10s);
                               });
    EXPECT_EQ(run.exit_code, 0) << describe(run);
    ASSERT_TRUE(listed) << describe(run);
    EXPECT_EQ(ls.exit_code, 0) << describe(ls);
    EXPECT_NE(ls.out.find("/local/domain/1/name = \"hello\""), std::string::npos) << ls.out;
    EXPECT_NE(ls.out.find("/local/domain/1/store/port = "), std::string::npos) << ls.out;
    EXPECT_NE(ls.out.find("/local/domain/1/control/shutdown = \"\""), std::string::npos) << ls.out;
}

}  // namespace
}  // namespace xenolith::integration

namespace xenolith::integration {
namespace {

// Without a xenstore the toolstack says so in start_info, and the guest's client gives up
// at once instead of waiting on a ring nobody serves.
TEST_F(IntegrationTest, WithoutAStoreTheGuestsClientGivesUpAtOnce) {
    hv::Hypervisor hv;
    ApiGuest g(hv, "xsprobe", "");
    g.start();
    auto end = g.wait_for_stop(5s);
    ASSERT_TRUE(end) << g.console().text();
    EXPECT_EQ(*end, hv::DomainState::Shutdown) << g.console().text();
    EXPECT_NE(g.domain().exit_status(), std::optional<uint32_t>(0)) << g.console().text();
}

}  // namespace
}  // namespace xenolith::integration

namespace xenolith::integration {
namespace {

// xn run's console both ways: stdin reaches the guest's ring, and with --console-log the
// output is also appended to <dir>/guest-<name>.log.
TEST_F(IntegrationTest, XnRunForwardsStdinAndLogsTheConsole) {
    TempDir dir;
    GuestConfig c = app_config("echo");
    c.name = "typist";
    std::string cfg = dir.write("echo.cfg", c.text());
    ProcessResult r = run_process({"/bin/sh", "-c",
                                   "printf 'one\\ntwo\\nquit\\n' | " + std::string(kXnPath) +
                                       " run -q --console-log " + dir.path() + " " + cfg},
                                  20s);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, "echo: ready\necho: one\necho: two\n") << describe(r);
    std::ifstream log(dir.path() + "/guest-typist.log");
    std::string logged((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    EXPECT_EQ(logged, r.out);
}

}  // namespace
}  // namespace xenolith::integration
