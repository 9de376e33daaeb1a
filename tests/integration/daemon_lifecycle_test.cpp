// A domain's life under xenolithd, driven with `xn` as an operator would: the console
// (history, input, Ctrl-] to detach), pause and unpause, shutdown -w, destroy, and the
// on_poweroff / on_reboot / on_crash actions with what they leave in the logs.
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <regex>
#include <thread>

#include "tests/integration/daemon_harness.hpp"
#include "toolstack/api/protocol.hpp"

namespace xenolith::integration {
namespace {

using Lines = std::vector<std::string>;

class DaemonWalkthrough : public DaemonTest {
  protected:
    void SetUp() override {
        DaemonTest::SetUp();
        if (HasFatalFailure()) return;
        ASSERT_TRUE(start_daemon());
    }
    // The `xn list` row of `name`, if listed.
    std::optional<ListRow> row(const std::string& name) {
        for (auto& r : list_rows())
            if (r.name == name) return r;
        return std::nullopt;
    }
    uint64_t cpu_time_ns(uint32_t domid) {
        nlohmann::json e = long_entry(domid);
        if (e.is_null()) {
            ADD_FAILURE() << "domain " << domid << " is not in xn list -l";
            return 0;
        }
        return e["info"]["cpu_time_ns"].get<uint64_t>();
    }
    size_t log_size(const std::string& file) { return read_log(file).size(); }
};

constexpr char kCtrlRightBracket = 0x1d;  // xl console's escape

TEST_F(DaemonWalkthrough, ConsoleReplaysTheGreetingAndCtrlBracketDetaches) {
    auto id = create("hello", "hello", "sleep_ms=100000 exit=0");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-hello.log", "hello: vcpus=1", 10s));
    // Attached after the guest printed: the greeting comes from the console's history.
    Subprocess console({kXnPath, "console", "hello"});
    const std::string greeting =
        "Hello from Pumice!\nhello: vcpus=1 memory=32768 KiB cmdline='sleep_ms=100000 exit=0'\n";
    bool shown = console.read_until(
        [&](const std::string& out) { return out.find(greeting) != std::string::npos; }, 5s);
    EXPECT_TRUE(shown) << "console printed:\n" << console.out();
    ASSERT_TRUE(console.write_stdin(std::string(1, kCtrlRightBracket)));
    ProcessResult r = console.finish(5s);
    EXPECT_FALSE(r.timed_out) << "Ctrl-] did not detach\n" << describe(r);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, greeting) << "nothing but the guest's console";
    // Detaching leaves the domain running.
    auto listed = row("hello");
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed->domid, *id);
}

TEST_F(DaemonWalkthrough, ConsoleInputReachesTheGuest) {
    auto id = create("echo", "echo", "");
    ASSERT_TRUE(id);
    Subprocess console({kXnPath, "console", "echo"});
    ASSERT_TRUE(console.read_until(
        [](const std::string& out) { return out.find("echo: ready\n") != std::string::npos; }, 5s))
        << console.out();
    ASSERT_TRUE(console.write_stdin("ping from the test\n"));
    EXPECT_TRUE(console.read_until(
        [](const std::string& out) {
            return out.find("echo: ping from the test\n") != std::string::npos;
        },
        5s))
        << console.out();
    ASSERT_TRUE(console.write_stdin(std::string(1, kCtrlRightBracket)));
    ProcessResult r = console.finish(5s);
    EXPECT_FALSE(r.timed_out) << describe(r);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
}

// Every thread of `pid` is in the stopped state (SIGSTOP has taken effect everywhere).
bool all_threads_stopped(pid_t pid) {
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    std::error_code ec;
    size_t threads = 0;
    for (const auto& t : std::filesystem::directory_iterator(dir, ec)) {
        std::string stat = read_text_file(t.path().string() + "/stat");
        size_t paren = stat.rfind(") ");
        if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'T')
            return false;
        ++threads;
    }
    return threads > 0;
}

// `xn console` sends the keys it read before Ctrl-] and exits at once (console_client.cpp),
// so the daemon often finds the bytes and the hang-up together when it next polls. Bytes
// a client sent before closing must still reach the guest. Which comes first is a race;
// stopping the daemon (SIGSTOP) while the client sends and closes makes the daemon see
// both at once every time.
TEST_F(DaemonWalkthrough, ConsoleInputSentJustBeforeTheClientHangsUpReachesTheGuest) {
    auto id = create("echo", "echo", "");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-echo.log", "echo: ready\n", 5s));
    auto client = api::Client::connect(control_socket());
    ASSERT_TRUE(client);
    client->call("console", {{"domain", "echo"}});
    // The history arrives once the daemon's session is in its streaming loop.
    std::string stream = client->reader().take_buffered();
    ASSERT_TRUE(eventually(
        [&] {
            pollfd p{client->fd(), POLLIN, 0};
            if (::poll(&p, 1, 0) == 1) {
                char buf[4096];
                ssize_t n = ::recv(client->fd(), buf, sizeof buf, 0);
                if (n > 0) stream.append(buf, static_cast<size_t>(n));
            }
            return stream.find("echo: ready\n") != std::string::npos;
        },
        5s))
        << stream;

    ASSERT_EQ(::kill(daemon_pid(), SIGSTOP), 0);
    ASSERT_TRUE(eventually([&] { return all_threads_stopped(daemon_pid()); }, 5s));
    const std::string line = "last words\n";
    EXPECT_EQ(::send(client->fd(), line.data(), line.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(line.size()));
    client.reset();  // hangs up
    ASSERT_EQ(::kill(daemon_pid(), SIGCONT), 0);
    EXPECT_TRUE(wait_for_log("guest-echo.log", "echo: last words\n", 2s))
        << "the line sent just before the hang-up was lost; the guest's console shows:\n"
        << read_log("guest-echo.log");
}

TEST_F(DaemonWalkthrough, PauseFreezesTheGuestAndUnpauseResumesIt) {
    auto id = create("spin", "spin", "seconds=60 report_ms=20");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-spin.log", "spin: iter=", 10s));
    ProcessResult p = xn({"pause", "spin"});
    ASSERT_EQ(p.exit_code, 0) << describe(p);
    EXPECT_EQ(p.out + p.err, "");
    auto listed = row("spin");
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed->state, "--p---") << listed->line;

    // What the guest wrote just before the pause may still be on its way to the log.
    std::this_thread::sleep_for(100ms);
    const uint64_t cpu_paused = cpu_time_ns(*id);
    const size_t console_paused = log_size("guest-spin.log");
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(cpu_time_ns(*id), cpu_paused) << "CPU time advanced while paused";
    EXPECT_EQ(log_size("guest-spin.log"), console_paused) << "the console advanced while paused";

    ProcessResult u = xn({"unpause", "spin"});
    ASSERT_EQ(u.exit_code, 0) << describe(u);
    EXPECT_TRUE(eventually([&] { return cpu_time_ns(*id) > cpu_paused; }, 2s))
        << "CPU time did not resume";
    EXPECT_TRUE(eventually([&] { return log_size("guest-spin.log") > console_paused; }, 2s))
        << "the console did not resume";
    listed = row("spin");
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed->state, "r-----") << listed->line;
}

TEST_F(DaemonWalkthrough, ShutdownWaitPrintsXlsLinesAndTheDomainGoes) {
    auto id = create("hello", "hello", "sleep_ms=100000");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-hello.log", "hello: vcpus=1", 10s));
    ProcessResult r = xn({"shutdown", "-w", "hello"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, "");
    const std::string n = std::to_string(*id);
    EXPECT_EQ(split_lines(r.err), (Lines{"Shutting down domain " + n, "Waiting for 1 domains",
                                         "Domain " + n + " has been shut down, reason code 0"}))
        << describe(r);
    // -w returns once the domain has shut down, as xl's does; the on_poweroff action
    // (destroy) follows at once.
    EXPECT_TRUE(eventually([&] { return list_names() == Lines{"Domain-0"}; }, 2s))
        << xn({"list"}).out;
    EXPECT_NE(read_log("guest-hello.log").find("pumice: control/shutdown: poweroff\n"),
              std::string::npos);
    std::string xl = read_log("xl-hello.log");
    EXPECT_NE(xl.find("Domain " + n + " has shut down, reason code 0 0x0"), std::string::npos)
        << xl;
    EXPECT_NE(xl.find("Action for shutdown reason code 0 is destroy"), std::string::npos) << xl;
    EXPECT_TRUE(wait_for_log("xl-hello.log", " destroyed\n", 2s)) << read_log("xl-hello.log");
}

// A guest that is shut down and destroyed before the wait begins (the race a quick guest
// wins against `xn shutdown -w`): the wait still says how it ended.
TEST_F(DaemonWalkthrough, AWaitThatBeginsAfterTheDomainIsGoneStillGivesItsReason) {
    auto id = create("hello", "hello", "sleep_ms=100000");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-hello.log", "hello: vcpus=1", 10s));
    ASSERT_EQ(xn({"shutdown", "hello"}).exit_code, 0);
    ASSERT_TRUE(eventually([&] { return list_names() == Lines{"Domain-0"}; }, 5s));
    auto client = api::Client::connect(control_socket());
    ASSERT_TRUE(client);
    nlohmann::json e = client->call("wait", {{"domid", *id}, {"death_only", false}});
    EXPECT_EQ(e["reason"], 0) << e.dump();
    EXPECT_EQ(e["destroyed"], true) << e.dump();
    // Waiting for its death alone: it is dead, no reason asked for.
    e = client->call("wait", {{"domid", *id}, {"death_only", true}});
    EXPECT_TRUE(e["reason"].is_null()) << e.dump();
}

TEST_F(DaemonWalkthrough, ShutdownWaitTwiceWaitsUntilDestroyed) {
    auto id = create("hello", "hello", "sleep_ms=100000");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-hello.log", "hello: vcpus=1", 10s));
    ProcessResult r = xn({"shutdown", "-ww", "hello"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(split_lines(r.err).back(), "Domain " + std::to_string(*id) + " has been destroyed")
        << describe(r);
    EXPECT_EQ(list_names(), Lines{"Domain-0"}) << "-ww returns only once the domain is gone";
}

TEST_F(DaemonWalkthrough, DestroyRemovesARunningDomain) {
    auto id = create("spin", "spin", "seconds=60 report_ms=100");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-spin.log", "spin: iter=", 10s));
    ProcessResult r = xn({"destroy", "spin"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out + r.err, "");
    EXPECT_EQ(list_names(), Lines{"Domain-0"}) << "destroy is synchronous";
    EXPECT_NE(read_log("xl-spin.log").find(" destroyed\n"), std::string::npos)
        << read_log("xl-spin.log");
    // The name is free again.
    EXPECT_TRUE(create("hello", "spin", "sleep_ms=100000"));
    // Domain-0 is not destroyed.
    ProcessResult dom0 = xn({"destroy", "0"});
    EXPECT_EQ(dom0.exit_code, 1) << describe(dom0);
}

// ---- on_poweroff, on_reboot, on_crash ----------------------------------------------------

class DaemonLifecycle : public DaemonWalkthrough {};

TEST_F(DaemonLifecycle, OnPoweroffPreserveKeepsTheDomainShutDownUntilDestroyed) {
    auto id = create("hello", "kept", "sleep_ms=100000", "on_poweroff = \"preserve\"\n");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-kept.log", "hello: vcpus=1", 10s));
    ProcessResult r = xn({"shutdown", "-w", "kept"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_TRUE(wait_for_log("xl-kept.log", "Action for shutdown reason code 0 is preserve", 5s))
        << read_log("xl-kept.log");
    // Still listed a while later: shut down ('s'), for poweroff ('-').
    std::this_thread::sleep_for(300ms);
    auto listed = row("kept");
    ASSERT_TRUE(listed) << xn({"list"}).out;
    EXPECT_EQ(listed->domid, *id);
    EXPECT_EQ(listed->state, "---s--") << listed->line;
    EXPECT_EQ(read_log("xl-kept.log").find("destroyed"), std::string::npos);
    ProcessResult d = xn({"destroy", "kept"});
    ASSERT_EQ(d.exit_code, 0) << describe(d);
    EXPECT_EQ(list_names(), Lines{"Domain-0"});
}

TEST_F(DaemonLifecycle, OnRebootRestartBootsAgainUnderTheSameNameWithANewDomid) {
    auto id = create("hello", "again", "sleep_ms=100000", "on_reboot = \"restart\"\n");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-again.log", "hello: vcpus=1", 10s));
    ProcessResult r = xn({"reboot", "again"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.err, "Rebooting domain " + std::to_string(*id) + "\n");
    // The console log shows a second boot.
    EXPECT_TRUE(wait_for_log("guest-again.log", "Hello from Pumice!", 10s, 2))
        << read_log("guest-again.log");
    EXPECT_NE(read_log("guest-again.log").find("pumice: control/shutdown: reboot\n"),
              std::string::npos);
    std::optional<ListRow> listed;
    ASSERT_TRUE(eventually([&] { return (listed = row("again")) && listed->domid != *id; }, 5s))
        << xn({"list"}).out;
    EXPECT_EQ(list_names(), (Lines{"Domain-0", "again"})) << "the old domain is gone";
    EXPECT_EQ(xn({"domname", std::to_string(*id)}).exit_code, 1);
    std::string xl = read_log("xl-again.log");
    EXPECT_NE(xl.find("Domain " + std::to_string(*id) + " has shut down, reason code 1 0x1"),
              std::string::npos)
        << xl;
    EXPECT_NE(xl.find("Action for shutdown reason code 1 is restart"), std::string::npos) << xl;
    EXPECT_NE(xl.find("restarted as domain " + std::to_string(listed->domid) + " (restart 1)"),
              std::string::npos)
        << xl;
    nlohmann::json e = long_entry(listed->domid);
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["info"]["restarts"], 1);
}

// "<name>-YYYYMMDDTHHMMZ" for the UTC minute of `t`.
std::string preserved_name(const std::string& name, std::time_t t) {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "-%Y%m%dT%H%MZ", &tm);
    return name + buf;
}

TEST_F(DaemonLifecycle, OnRebootRenameRestartKeepsTheOldOneRenamed) {
    auto id = create("hello", "rr", "sleep_ms=100000", "on_reboot = \"rename-restart\"\n");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-rr.log", "hello: vcpus=1", 10s));
    const std::time_t before = std::time(nullptr);
    ASSERT_EQ(xn({"reboot", "rr"}).exit_code, 0);
    std::vector<ListRow> rows;
    ASSERT_TRUE(eventually(
        [&] {
            rows = list_rows();
            return rows.size() == 3;
        },
        5s))
        << xn({"list"}).out;
    const std::time_t after = std::time(nullptr);
    // Domain-0, then by domid: the preserved one, then the new one.
    const ListRow& old = rows[1];
    const ListRow& fresh = rows[2];
    EXPECT_EQ(old.domid, *id);
    EXPECT_TRUE(old.name == preserved_name("rr", before) || old.name == preserved_name("rr", after))
        << old.line;
    EXPECT_EQ(old.state, "---sr-") << "shut down for reboot: " << old.line;
    EXPECT_EQ(fresh.name, "rr");
    EXPECT_NE(fresh.domid, *id);
    EXPECT_TRUE(wait_for_log("guest-rr.log", "Hello from Pumice!", 10s, 2))
        << read_log("guest-rr.log");
    std::string xl = read_log("xl-rr.log");
    EXPECT_NE(xl.find("Action for shutdown reason code 1 is rename-restart"), std::string::npos)
        << xl;
    // Both answer to their names.
    EXPECT_EQ(xn({"domid", old.name}).out, std::to_string(*id) + "\n");
    EXPECT_EQ(xn({"domid", "rr"}).out, std::to_string(fresh.domid) + "\n");
}

// xl's preserve_domain gives one of the two a new uuid (libxl_domain_preserve), so the
// preserved domain and its successor never share a uuid or a /vm/<uuid> node in xenstore.
// (xl gives the fresh one to the preserved domain; Xenolith, whose uuids are fixed at
// creation, gives it to the new one. Either way they differ.)
TEST_F(DaemonLifecycle, RenameRestartLeavesTwoDomainsWithDistinctUuids) {
    auto id = create("hello", "rr", "sleep_ms=100000", "on_reboot = \"rename-restart\"\n");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-rr.log", "hello: vcpus=1", 10s));
    nlohmann::json first = long_entry(*id);
    ASSERT_FALSE(first.is_null());
    const std::string uuid = first["info"]["uuid"];
    ASSERT_EQ(xn({"reboot", "rr"}).exit_code, 0);
    ASSERT_TRUE(eventually([&] { return list_rows().size() == 3; }, 5s)) << xn({"list"}).out;
    nlohmann::json all = list_long();
    ASSERT_TRUE(all.is_array() && all.size() == 3) << all.dump(2);
    const nlohmann::json& old = all[1];
    const nlohmann::json& fresh = all[2];
    ASSERT_EQ(old["domid"], *id);
    EXPECT_EQ(fresh["info"]["name"], "rr");
    EXPECT_NE(old["info"]["uuid"], fresh["info"]["uuid"])
        << "two live domains share uuid " << old["info"]["uuid"];
    EXPECT_TRUE(old["info"]["uuid"] == uuid || fresh["info"]["uuid"] == uuid)
        << "one of them keeps " << uuid;
    // Each domain's config says its own uuid.
    EXPECT_EQ(old["config"]["c_info"]["uuid"], old["info"]["uuid"]);
    EXPECT_EQ(fresh["config"]["c_info"]["uuid"], fresh["info"]["uuid"]);
}

// The domid the daemon logged for a guest's stop ("Domain N has shut down, ...").
std::optional<uint32_t> stopped_domid(const std::string& xl_log) {
    std::smatch m;
    if (!std::regex_search(xl_log, m, std::regex(R"(Domain (\d+) has shut down, reason code)")))
        return std::nullopt;
    return static_cast<uint32_t>(std::stoul(m[1]));
}

TEST_F(DaemonLifecycle, OnCrashDestroyRemovesItAndTheLogSaysReasonCode3) {
    // The guest crashes at once: it may be gone before `xn domid` could name it.
    ASSERT_TRUE(create_only("crash", "crasher", "mode=null", "", {"on_crash=\"destroy\""}));
    EXPECT_TRUE(wait_for_log("xl-crasher.log", " destroyed\n", 10s)) << read_log("xl-crasher.log");
    EXPECT_EQ(list_names(), Lines{"Domain-0"});
    std::string xl = read_log("xl-crasher.log");
    auto id = stopped_domid(xl);
    ASSERT_TRUE(id) << xl;
    const std::string n = std::to_string(*id);
    EXPECT_NE(xl.find("Domain " + n + " has shut down, reason code 3 0x3"), std::string::npos)
        << xl;
    EXPECT_NE(xl.find("Action for shutdown reason code 3 is destroy"), std::string::npos) << xl;
    EXPECT_NE(xl.find("<crash_null_deref+"), std::string::npos)
        << "the crash report names RIP's symbol\n"
        << xl;
    EXPECT_NE(read_log("guest-crasher.log").find("crash: about to fault (null)"),
              std::string::npos);
    EXPECT_FALSE(path_exists(log_path("dump"))) << "destroy writes no core";
}

TEST_F(DaemonLifecycle, OnCrashCoredumpDestroyWritesAllOfTheGuestsMemory) {
    ASSERT_TRUE(create_only("crash", "dumper", "mode=null", "",
                            {"memory=16", "on_crash=\"coredump-destroy\""}));
    EXPECT_TRUE(wait_for_log("xl-dumper.log", " destroyed\n", 10s)) << read_log("xl-dumper.log");
    EXPECT_EQ(list_names(), Lines{"Domain-0"});
    const std::string core = log_path("dump/dumper.core");
    std::string xl = read_log("xl-dumper.log");
    EXPECT_NE(xl.find("Action for shutdown reason code 3 is coredump-destroy"), std::string::npos)
        << xl;
    EXPECT_NE(xl.find("dumping core to " + core), std::string::npos) << xl;
    struct stat st {};
    ASSERT_EQ(::stat(core.c_str(), &st), 0) << core << " is missing";
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), 16ull << 20) << "exactly memory = 16 MiB";
    // It is the guest's RAM: the kernel image (its strings) is in it.
    std::string bytes = read_text_file(core);
    EXPECT_NE(bytes.find("crash: about to fault"), std::string::npos);
}

}  // namespace
}  // namespace xenolith::integration
