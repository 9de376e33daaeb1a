// `xn trace DOM --hypercalls` through xenolithd: a guest created paused and traced from its
// first instruction to its power-off, one line per call; one trace per domain.
#include <gtest/gtest.h>

#include <signal.h>

#include <regex>
#include <thread>

#include "tests/integration/daemon_harness.hpp"

namespace xenolith::integration {
namespace {

using DaemonTrace = DaemonTest;

TEST_F(DaemonTrace, HelloFromItsFirstCallToItsPowerOff) {
    ASSERT_TRUE(start_daemon());
    // Created paused, so that the trace sees its very first call.
    ProcessResult c =
        xn({"create", "-p",
            write_config("p.cfg", config_text("hello", "paused", "sleep_ms=2 exit=4"))});
    ASSERT_EQ(c.exit_code, 0) << describe(c);
    Subprocess trace({kXnPath, "trace", "paused", "--hypercalls"});
    // The trace is on once `xn trace` says so; then the guest may start.
    ASSERT_TRUE(trace.read_until(
        [](const std::string& out) {
            return out.find("# tracing") == 0 && out.find('\n') != std::string::npos;
        },
        10s))
        << trace.out();
    ASSERT_EQ(xn({"unpause", "paused"}).exit_code, 0);
    ProcessResult r = trace.finish(20s);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    std::vector<std::string> lines = split_lines(r.out);
    ASSERT_FALSE(lines.empty());
    EXPECT_TRUE(std::regex_match(
        lines.front(), std::regex("# tracing domain [0-9]+'s hypercalls \\(Ctrl-C stops\\)")))
        << lines.front();
    lines.erase(lines.begin());
    ASSERT_GE(lines.size(), 4u) << r.out;
    const std::regex line(
        R"( *[0-9]+\.[0-9]{6} d[0-9]+v0 [a-z_0-9]+\(.*\) = -?[0-9]+( \([A-Z]+\))?)");
    for (const auto& l : lines) EXPECT_TRUE(std::regex_match(l, line)) << l;
    EXPECT_NE(lines.front().find(" 0.000000 "), std::string::npos) << lines.front();
    EXPECT_NE(lines.front().find("callback_op(register, "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("sched_op(exit_status, 4) = 0\n"), std::string::npos) << r.out;
    EXPECT_NE(lines.back().find("sched_op(shutdown, poweroff) = 0"), std::string::npos) << r.out;
}

TEST_F(DaemonTrace, OneTracePerDomainAndMaxStopsIt) {
    ASSERT_TRUE(start_daemon());
    ASSERT_TRUE(create("debugee", "busy", "period_ms=1"));
    Subprocess first({kXnPath, "trace", "busy", "--hypercalls"});
    ASSERT_TRUE(
        first.read_until([](const std::string& out) { return split_lines(out).size() >= 2; }, 10s))
        << "the first trace printed no call: " << first.out();
    ProcessResult second = xn({"trace", "busy", "--hypercalls"});
    EXPECT_EQ(second.exit_code, 1) << describe(second);
    EXPECT_NE(second.err.find("already being traced"), std::string::npos) << describe(second);
    ::kill(first.pid(), SIGINT);
    ProcessResult end = first.finish(10s);
    EXPECT_EQ(end.exit_code, 0) << describe(end);
    // The first has gone: a new trace may start, and --max ends it.
    ProcessResult limited = xn({"trace", "busy", "--hypercalls", "--max", "5"});
    EXPECT_EQ(limited.exit_code, 0) << describe(limited);
    EXPECT_EQ(split_lines(limited.out).size(), 6u) << limited.out;  // the header and 5 calls
    ProcessResult none = xn({"trace", "busy"});
    EXPECT_EQ(none.exit_code, 1);
    EXPECT_NE(none.err.find("--hypercalls"), std::string::npos) << describe(none);
}

// System calls are a PVH Linux guest's (the nested host traces one: tests/nested/README.md);
// a PV domain's kernel makes hypercalls, and the daemon says so, leaving the domain as it was.
TEST_F(DaemonTrace, SyscallsOfAPvDomainAreRefusedWithTheReason) {
    ASSERT_TRUE(start_daemon());
    ASSERT_TRUE(create("debugee", "busy", "period_ms=1"));
    ProcessResult r = xn({"trace", "busy", "--syscalls"});
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_NE(r.err.find("only in a PVH guest"), std::string::npos) << describe(r);
    ProcessResult both = xn({"trace", "busy", "--syscalls", "--hypercalls"});
    EXPECT_NE(both.exit_code, 0) << describe(both);
    // Nothing was left held: a hypercall trace starts at once.
    ProcessResult after = xn({"trace", "busy", "--hypercalls", "--max", "2"});
    EXPECT_EQ(after.exit_code, 0) << describe(after);
    EXPECT_EQ(split_lines(after.out).size(), 3u) << after.out;
}

}  // namespace
}  // namespace xenolith::integration
