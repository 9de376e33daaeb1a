// Introspection through xenolithd: `xn debug DOM --gdb ...` with Debian's gdb against the
// debugee guest (break, continue, bt, info registers, print, set var, stepi, detach), and
// the control API's debug_* commands from a hostile or vanishing client.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <regex>

#include "boot/elf_image.hpp"
#include "tests/integration/daemon_harness.hpp"
#include "tests/integration/not_run.hpp"
#include "toolstack/api/protocol.hpp"

namespace xenolith::integration {
namespace {

using nlohmann::json;

constexpr const char* kGdb = "/usr/bin/gdb";

class DaemonDebug : public DaemonTest {
  protected:
    void SetUp() override {
        DaemonTest::SetUp();
        if (HasFatalFailure()) return;
        ASSERT_TRUE(start_daemon());
    }
    // What the daemon's platform cannot do for a debugger of `domain` (debug_attach's
    // `unavailable`): `what` ("breakpoints", "single_step") -> the reason, or "".
    std::string unavailable(const std::string& domain, const std::string& what) {
        auto c = connect();
        if (!c) return "no control connection";
        json r = c->call("debug_attach", {{"domain", domain}});
        c->call("debug_detach");
        return r["unavailable"].value(what, "");
    }
    std::unique_ptr<api::Client> connect() {
        auto c = api::Client::connect(control_socket());
        EXPECT_TRUE(c);
        return c;
    }
    // `xn debug NAME --gdb tcp:127.0.0.1:0`, once it says where gdb connects: the port.
    std::optional<std::string> start_debugger(Subprocess& xn_debug) {
        std::smatch m;
        const std::regex re("gdb can connect to tcp:127\\.0\\.0\\.1:([0-9]+)");
        bool said = xn_debug.read_until(
            [&](const std::string& out) { return std::regex_search(out, m, re); }, 10s);
        if (!said) return std::nullopt;
        std::string out = xn_debug.out();
        std::regex_search(out, m, re);
        return m[1].str();
    }
};

TEST_F(DaemonDebug, GdbBreaksPrintsChangesStepsAndDetachesAndTheGuestRunsOn) {
    ASSERT_EQ(executable_problem(kGdb), "") << "Debian's gdb (make deps installs it)";
    ASSERT_TRUE(create("debugee", "dbg", "period_ms=20"));
    XENOLITH_NOT_RUN_UNLESS_AVAILABLE(unavailable("dbg", "breakpoints"));
    XENOLITH_NOT_RUN_UNLESS_AVAILABLE(unavailable("dbg", "single_step"));
    ASSERT_TRUE(wait_for_log("guest-dbg.log", "debugee: tick 2 ", 10s));
    Subprocess xn_debug({kXnPath, "debug", "dbg", "--gdb", "tcp:127.0.0.1:0"});
    std::optional<std::string> port = start_debugger(xn_debug);
    ASSERT_TRUE(port) << xn_debug.out();

    const std::string image = guest_path("debugee");
    ProcessResult gdb = run_process({kGdb,
                                     "-batch",
                                     "-nx",
                                     "-ex",
                                     "set confirm off",
                                     "-ex",
                                     "set pagination off",
                                     "-ex",
                                     "file " + image,
                                     "-ex",
                                     "target remote 127.0.0.1:" + *port,
                                     "-ex",
                                     "break debugee_tick",
                                     "-ex",
                                     "continue",
                                     "-ex",
                                     "bt",
                                     "-ex",
                                     "info registers rip",
                                     "-ex",
                                     "print debugee_counter",
                                     "-ex",
                                     "set {char[11]} debugee_message = \"set-by-gdb\"",
                                     "-ex",
                                     "print debugee_message",
                                     "-ex",
                                     "stepi",
                                     "-ex",
                                     "info registers rip",
                                     "-ex",
                                     "delete",
                                     "-ex",
                                     "detach"},
                                    60s);
    const std::string out = gdb.out + gdb.err;
    EXPECT_EQ(gdb.exit_code, 0) << out;
    EXPECT_NE(out.find("Breakpoint 1, debugee_tick"), std::string::npos) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("#1 .* main \\(\\)"))) << out;
    EXPECT_TRUE(std::regex_search(
        out, std::regex("rip +0x[0-9a-f]+ +0x[0-9a-f]+ <debugee_tick(\\(uint64_t\\))?>")))
        << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("\\$1 = [0-9]+"))) << out;
    EXPECT_NE(out.find("\"set-by-gdb\""), std::string::npos) << out;
    EXPECT_TRUE(std::regex_search(
        out, std::regex("rip +0x[0-9a-f]+ +0x[0-9a-f]+ <debugee_tick(\\(uint64_t\\))?\\+[0-9]+>")))
        << "stepi moved into the function: " << out;
    EXPECT_NE(out.find("[Inferior 1 (Remote target) detached]"), std::string::npos) << out;

    ProcessResult xn_end = xn_debug.finish(10s);
    EXPECT_EQ(xn_end.exit_code, 0) << describe(xn_end);
    EXPECT_NE(xn_end.out.find("gdb detached; the domain runs on"), std::string::npos) << xn_end.out;
    // The guest runs on with the message gdb wrote, and with no breakpoint left in it (an
    // int3 with nobody to catch it would crash it).
    EXPECT_TRUE(wait_for_log("guest-dbg.log", "message=set-by-gdb", 10s))
        << read_log("guest-dbg.log");
    const size_t ticks = count_of(read_log("guest-dbg.log"), "debugee: tick");
    EXPECT_TRUE(eventually(
        [&] { return count_of(read_log("guest-dbg.log"), "debugee: tick") > ticks + 5; }, 10s));
    EXPECT_EQ(read_log("xl-dbg.log").find("crash"), std::string::npos) << read_log("xl-dbg.log");
}

TEST_F(DaemonDebug, OneDebuggerPerDomainAndAVanishedOneLeavesNothingBehind) {
    ASSERT_TRUE(create("debugee", "dbg", "period_ms=5"));
    // The first debugger plants a breakpoint on the tick function, and is killed while the
    // domain is stopped there.
    auto first = connect();
    json attached = first->call("debug_attach", {{"domain", "dbg"}});
    EXPECT_EQ(attached["vcpus"], 1);
    XENOLITH_NOT_RUN_UNLESS_AVAILABLE(attached["unavailable"].value("breakpoints", ""));
    first->call("debug_stop");
    std::optional<boot::Symbol> sym =
        boot::ElfImage::load(guest_path("debugee")).lookup("debugee_tick");
    ASSERT_TRUE(sym);
    char tick_hex[24];
    std::snprintf(tick_hex, sizeof tick_hex, "0x%llx",
                  static_cast<unsigned long long>(sym->address));
    const std::string tick = tick_hex;
    first->call("debug_breakpoint", {{"address", tick}, {"action", "insert"}, {"vcpu", 0}});
    first->call("debug_resume", {{"others", "continue"}});
    json ev = first->call("debug_wait", {{"timeout_ms", 5000}});
    ASSERT_FALSE(ev["event"].is_null()) << ev.dump();
    EXPECT_EQ(ev["event"]["reason"], "breakpoint");
    EXPECT_EQ(ev["event"]["rip"], tick);

    // A second client is refused with the reason, and changes nothing.
    auto second = connect();
    try {
        second->call("debug_attach", {{"domain", "dbg"}});
        ADD_FAILURE() << "a second debugger attached";
    } catch (const api::ApiError& e) {
        EXPECT_EQ(e.code(), "EBUSY");
        EXPECT_NE(std::string(e.what()).find("already has a debugger"), std::string::npos)
            << e.what();
    }
    ProcessResult again = xn({"debug", "dbg", "--gdb", "tcp:127.0.0.1:0"});
    EXPECT_EQ(again.exit_code, 1) << describe(again);
    EXPECT_NE(again.err.find("already has a debugger"), std::string::npos) << describe(again);

    // Nor can the domain be saved or moved away from its debugger, breakpoints and all.
    ProcessResult save = xn({"save", "-c", "dbg", dir_.path() + "/dbg.save"});
    EXPECT_EQ(save.exit_code, 1) << describe(save);
    EXPECT_NE(save.err.find("is being debugged"), std::string::npos) << describe(save);

    // The first goes away without a word: the daemon detaches for it.
    const size_t ticks = count_of(read_log("guest-dbg.log"), "debugee: tick");
    first.reset();
    EXPECT_TRUE(eventually(
        [&] { return count_of(read_log("guest-dbg.log"), "debugee: tick") > ticks + 10; }, 10s))
        << "the guest did not run on after its debugger vanished";
    EXPECT_EQ(read_log("xl-dbg.log").find("crash"), std::string::npos) << read_log("xl-dbg.log");
    // And the domain can be debugged again.
    second->call("debug_attach", {{"domain", "dbg"}});
    second->call("debug_detach");
}

TEST_F(DaemonDebug, MalformedRequestsGetErrorsAndTheDaemonCarriesOn) {
    ASSERT_TRUE(create("debugee", "dbg", "period_ms=5"));
    auto c = connect();
    auto code_of = [&](const std::string& command, const json& args) -> std::string {
        try {
            c->call(command, args);
            return "ok";
        } catch (const api::ApiError& e) {
            return e.code();
        }
    };
    EXPECT_EQ(code_of("debug_registers", {{"vcpu", 0}}), "EINVAL");  // not attached
    EXPECT_EQ(code_of("debug_attach", {{"domain", "0"}}), "EPERM");
    EXPECT_EQ(code_of("debug_attach", {{"domain", "nosuch"}}), "ENOENT");
    ASSERT_EQ(code_of("debug_attach", {{"domain", "dbg"}}), "ok");
    EXPECT_EQ(code_of("debug_attach", {{"domain", "dbg"}}), "EBUSY");
    EXPECT_EQ(code_of("debug_registers", {{"vcpu", 0}}), "EINVAL");  // running
    ASSERT_EQ(code_of("debug_stop", json::object()), "ok");
    EXPECT_EQ(code_of("debug_registers", {{"vcpu", 1}}), "EINVAL");  // no such vCPU
    EXPECT_EQ(code_of("debug_read", {{"address", "0xzz"}, {"length", 4}, {"vcpu", 0}}), "EINVAL");
    EXPECT_EQ(code_of("debug_read", {{"address", 12}, {"length", 4}, {"vcpu", 0}}), "EINVAL");
    EXPECT_EQ(code_of("debug_read", {{"address", "0x1000"}, {"length", 1u << 30}, {"vcpu", 0}}),
              "EINVAL");
    EXPECT_EQ(code_of("debug_write", {{"address", "0x1000"}, {"data", "abc"}, {"vcpu", 0}}),
              "EINVAL");
    EXPECT_EQ(code_of("debug_write", {{"address", "0x1000"}, {"data", "zz"}, {"vcpu", 0}}),
              "EINVAL");
    EXPECT_EQ(code_of("debug_set_registers", {{"vcpu", 0}, {"registers", {{"cr3", "0x0"}}}}),
              "EINVAL");
    EXPECT_EQ(code_of("debug_breakpoint",
                      {{"address", "0xdead00000000"}, {"action", "insert"}, {"vcpu", 0}}),
              "EINVAL");
    EXPECT_EQ(code_of("debug_breakpoint", {{"address", "0x1000"}, {"action", "remove"}}), "EINVAL");
    EXPECT_EQ(code_of("debug_resume", {{"vcpus", {{"7", "continue"}}}}), "EINVAL");
    EXPECT_EQ(code_of("debug_resume", {{"others", "fly"}}), "EINVAL");
    EXPECT_EQ(code_of("debug_wait", {{"timeout_ms", 999999}}), "EINVAL");
    // Unmapped memory reads as nothing rather than an error: gdb asks for such.
    json r = c->call("debug_read", {{"address", "0xdead00000000"}, {"length", 4}, {"vcpu", 0}});
    EXPECT_EQ(r["data"], "");
    ASSERT_EQ(code_of("debug_detach", json::object()), "ok");
    const size_t ticks = count_of(read_log("guest-dbg.log"), "debugee: tick");
    EXPECT_TRUE(eventually(
        [&] { return count_of(read_log("guest-dbg.log"), "debugee: tick") > ticks + 5; }, 10s));
    EXPECT_EQ(xn({"list"}).exit_code, 0);
}

TEST_F(DaemonDebug, DestroyWhileStoppedEndsTheDomainAndTheWaitSaysSo) {
    ASSERT_TRUE(create("debugee", "dbg", "period_ms=5"));
    auto c = connect();
    c->call("debug_attach", {{"domain", "dbg"}});
    c->call("debug_stop");
    EXPECT_EQ(xn({"destroy", "dbg"}).exit_code, 0);
    json r = c->call("debug_wait", {{"timeout_ms", 1000}});
    EXPECT_TRUE(r["event"].is_null());
    EXPECT_EQ(r["ended"], "dying") << r.dump();
}

// Hypercall events over the control API: named as Xen names them, held until resumed, off
// again with debug_events and at the detach (the guest runs on unwatched).
TEST_F(DaemonDebug, HypercallEventsAreNamedAndHeldUntilResumed) {
    ASSERT_TRUE(create("debugee", "dbg", "period_ms=5"));
    auto c = connect();
    c->call("debug_attach", {{"domain", "dbg"}});
    EXPECT_THROW(c->call("debug_events", json::object()), api::ApiError);
    c->call("debug_events", {{"hypercalls", true}});
    for (int i = 0; i < 3; ++i) {
        json r = c->call("debug_wait", {{"timeout_ms", 5000}});
        ASSERT_FALSE(r["event"].is_null()) << r.dump();
        EXPECT_EQ(r["event"]["reason"], "hypercall") << r.dump();
        EXPECT_FALSE(r["event"]["hypercall"]["name"].get<std::string>().empty()) << r.dump();
        // Off while every vCPU is stopped (all-stop): no call can stop after this resume.
        if (i == 2) c->call("debug_events", {{"hypercalls", false}});
        c->call("debug_resume", json::object());
    }
    json quiet = c->call("debug_wait", {{"timeout_ms", 300}});
    EXPECT_TRUE(quiet["event"].is_null()) << quiet.dump();
    c->call("debug_events", {{"hypercalls", true}});
    c->call("debug_detach");
    // Detached with the stops on: nothing of them is left, the guest runs on.
    EXPECT_TRUE(wait_for_log("guest-dbg.log", "debugee: tick 20 ", 10s));
}

}  // namespace
}  // namespace xenolith::integration
