// The integrity monitor through xenolithd: `xn vmi protect DOM SYMBOL [--crash]` against the
// debugee guest's selfpatch mode (it overwrites a byte of debugee_target from
// debugee_patch), and the control API's debug_protect/debug_unprotect from a hostile or
// vanishing client.
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>

#include "boot/elf_image.hpp"
#include "tests/integration/daemon_harness.hpp"
#include "toolstack/api/hex.hpp"
#include "toolstack/api/protocol.hpp"

namespace xenolith::integration {
namespace {

using nlohmann::json;

constexpr const char* kPatched = "debugee_target returned 1, now 2";

class DaemonProtect : public DaemonTest {
  protected:
    void SetUp() override {
        DaemonTest::SetUp();
        if (HasFatalFailure()) return;
        ASSERT_TRUE(start_daemon());
    }
    std::unique_ptr<api::Client> connect() {
        auto c = api::Client::connect(control_socket());
        EXPECT_TRUE(c);
        return c;
    }
    // The monitor's header line: it watches from here on.
    static bool watching(Subprocess& monitor) {
        return monitor.read_until(
            [](const std::string& out) { return out.find("# watching writes to") == 0; }, 10s);
    }
};

TEST_F(DaemonProtect, XnVmiProtectReportsTheWriterAndTheGuestRunsOn) {
    // Created paused and watched before it runs: the patch cannot come first.
    ASSERT_TRUE(create("debugee", "mon", "period_ms=20 selfpatch=100", "", {"-p"}));
    Subprocess monitor({kXnPath, "vmi", "protect", "mon", "debugee_target"});
    ASSERT_TRUE(watching(monitor)) << monitor.out();
    ASSERT_EQ(xn({"unpause", "mon"}).exit_code, 0);
    ASSERT_TRUE(wait_for_log("guest-mon.log", "debugee: ready", 10s));
    EXPECT_NE(monitor.out().find("debugee_target (0x"), std::string::npos) << monitor.out();
    // One line for the write: the writer's RIP inside debugee_patch, the address written.
    const std::regex line(
        "d[0-9]+v0 rip 0x[0-9a-f]+ debugee_patch\\+0x[0-9a-f]+ wrote "
        "guest-physical 0x[0-9a-f]+\n");
    ASSERT_TRUE(monitor.read_until(
        [&](const std::string& out) { return std::regex_search(out, line); }, 15s))
        << monitor.out();
    // The write happened, and the guest says so and runs on.
    EXPECT_TRUE(wait_for_log("guest-mon.log", kPatched, 5s)) << read_log("guest-mon.log");
    EXPECT_TRUE(wait_for_log("guest-mon.log", "debugee: tick 110 ", 5s));
    ::kill(monitor.pid(), SIGINT);
    ProcessResult r = monitor.finish(5s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("# detached"), std::string::npos) << r.out;
    EXPECT_TRUE(wait_for_log("guest-mon.log", "debugee: tick 120 ", 5s));
}

TEST_F(DaemonProtect, XnVmiProtectCrashCrashesTheDomainAtTheWrite) {
    ASSERT_TRUE(create("debugee", "mon", "period_ms=20 selfpatch=100", "", {"-p"}));
    Subprocess monitor({kXnPath, "vmi", "protect", "mon", "debugee_target", "--crash"});
    ASSERT_TRUE(watching(monitor)) << monitor.out();
    ASSERT_EQ(xn({"unpause", "mon"}).exit_code, 0);
    ProcessResult r = monitor.finish(15s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex("rip 0x[0-9a-f]+ debugee_patch\\+0x[0-9a-f]+ wrote guest-physical "
                          "0x[0-9a-f]+: crashing the domain\n# domain [0-9]+ crashed\n")))
        << r.out;
    EXPECT_EQ(read_log("guest-mon.log").find(kPatched), std::string::npos);
}

TEST_F(DaemonProtect, AVanishedClientsWatchIsGoneAndTheGuestWritesFreely) {
    ASSERT_TRUE(create("debugee", "mon", "period_ms=20 selfpatch=25"));
    ASSERT_TRUE(wait_for_log("guest-mon.log", "debugee: ready", 10s));
    const boot::ElfImage image = boot::ElfImage::load(guest_path("debugee"));
    const std::optional<boot::Symbol> target = image.lookup("debugee_target");
    ASSERT_TRUE(target);
    {
        auto c = connect();
        c->call("debug_attach", {{"domain", "mon"}});
        c->call("debug_stop");
        json r =
            c->call("debug_protect", {{"vcpu", 0}, {"address", api::hex_value(target->address)}});
        EXPECT_EQ(r["pages"], 1);
        r = c->call("debug_protect",
                    {{"address", "0x200000"}, {"length", 8192}, {"physical", true}});
        EXPECT_EQ(r["pages"], 3);
        r = c->call("debug_unprotect",
                    {{"address", "0x201000"}, {"length", 1}, {"physical", true}});
        EXPECT_EQ(r["pages"], 2);
        c->call("debug_resume");
    }  // the connection closes, before the guest patches: detached
    EXPECT_TRUE(wait_for_log("guest-mon.log", kPatched, 10s)) << read_log("guest-mon.log");
    EXPECT_TRUE(wait_for_log("guest-mon.log", "debugee: tick 40 ", 5s));
}

TEST_F(DaemonProtect, BadRequestsGetErrors) {
    ASSERT_TRUE(create("debugee", "mon", "period_ms=5"));
    auto c = connect();
    auto error_of = [&](const char* cmd, const json& args) -> std::string {
        try {
            c->call(cmd, args);
        } catch (const api::ApiError& e) {
            return e.code();
        }
        return "no error";
    };
    EXPECT_EQ(error_of("debug_protect", {{"address", "0x100000"}}), "EINVAL");  // not attached
    c->call("debug_attach", {{"domain", "mon"}});
    // Running: the vCPUs must be stopped first.
    EXPECT_EQ(error_of("debug_protect", {{"address", "0x100000"}, {"physical", true}}), "EINVAL");
    c->call("debug_stop");
    EXPECT_EQ(error_of("debug_protect", {}), "EINVAL");
    EXPECT_EQ(error_of("debug_protect", {{"address", 12}}), "EINVAL");
    EXPECT_EQ(error_of("debug_protect", {{"vcpu", 0}, {"address", "0x100000"}, {"length", 0}}),
              "EINVAL");
    EXPECT_EQ(error_of("debug_protect", {{"vcpu", 0}, {"address", "0x100000"}, {"length", "x"}}),
              "EINVAL");
    EXPECT_EQ(error_of("debug_protect", {{"vcpu", 1}, {"address", "0x100000"}}), "EINVAL");
    EXPECT_EQ(error_of("debug_protect", {{"vcpu", 0}, {"address", "0xdead00000000"}}),
              "EINVAL");  // unmapped
    EXPECT_EQ(error_of("debug_protect", {{"address", "0x7fffffff000"}, {"physical", true}}),
              "EINVAL");  // past RAM
    EXPECT_EQ(error_of("debug_unprotect", {{"address", "0x100000"}, {"physical", true}}),
              "EINVAL");  // nothing there
    EXPECT_EQ(error_of("debug_resume", {{"others", "explode"}}), "EINVAL");
    c->call("debug_resume");
    // xn's own errors: one line, status 1.
    ProcessResult r = xn({"vmi", "protect", "mon", "no_such_symbol"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no symbol 'no_such_symbol'"), std::string::npos) << r.err;
    c.reset();
    r = xn({"vmi", "protect", "nosuchdomain", "0x100000"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    // The domain is unharmed.
    EXPECT_TRUE(wait_for_log("guest-mon.log", "debugee: tick 50 ", 5s));
}

}  // namespace
}  // namespace xenolith::integration
