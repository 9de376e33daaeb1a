// The dirty guest (guest/apps/dirty), which live-migration tests rely on to show that no
// write was lost: through `xn run` it writes at its rate and every verify pass passes, and
// in-process a word changed behind its back is reported as a MISMATCH with exit status 1.
#include <gtest/gtest.h>

#include <regex>

#include "tests/integration/harness.hpp"

namespace xenolith::integration {
namespace {

// One `dirty: seq=.. pages=.. rate=.. verified=.. ms=..` line.
struct Report {
    uint64_t seq, pages, rate, verified, ms;
};

std::optional<Report> parse_report(const std::string& line) {
    static const std::regex re(
        R"(dirty: seq=(\d+) pages=(\d+) rate=(\d+) verified=(\d+) ms=(\d+))");
    std::smatch m;
    if (!std::regex_match(line, m, re)) return std::nullopt;
    return Report{std::stoull(m[1]), std::stoull(m[2]), std::stoull(m[3]), std::stoull(m[4]),
                  std::stoull(m[5])};
}

// The guest-physical address on the `dirty: buffer=0x.. table=0x..` line.
std::optional<uint64_t> buffer_address(const std::vector<std::string>& lines) {
    static const std::regex re(R"(dirty: buffer=0x([0-9a-f]+) table=0x([0-9a-f]+))");
    std::smatch m;
    for (const std::string& line : lines)
        if (std::regex_match(line, m, re)) return std::stoull(m[1], nullptr, 16);
    return std::nullopt;
}

class DirtyApp : public IntegrationTest {};

TEST_F(DirtyApp, WritesAtItsRateAndEveryVerifyPassPasses) {
    TempDir dir;
    GuestConfig cfg = app_config("dirty", "mib=2 rate=20000 report_ms=100 verify_ms=100 seconds=1");
    ProcessResult r = xn_run(dir.write("dirty.cfg", cfg.text()), {"-q"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out.find("MISMATCH"), std::string::npos) << describe(r);
    std::vector<std::string> out = split_lines(r.out);
    ASSERT_GE(out.size(), 5u) << describe(r);
    EXPECT_TRUE(buffer_address(out)) << out[0];
    EXPECT_EQ(out[1], "dirty: ready pages=512");

    // Every report: seq advancing past the 512 writes that touched each page once, verify
    // passes counting up.
    uint64_t seq = 512, verified = 0;
    for (size_t i = 2; i + 1 < out.size(); ++i) {
        auto report = parse_report(out[i]);
        ASSERT_TRUE(report) << out[i];
        EXPECT_EQ(report->pages, 512u);
        EXPECT_GT(report->seq, seq) << out[i];
        EXPECT_GE(report->verified, verified) << out[i];
        seq = report->seq, verified = report->verified;
    }
    EXPECT_GE(verified, 2u) << describe(r);

    std::smatch m;
    ASSERT_TRUE(std::regex_match(
        out.back(), m, std::regex(R"(dirty: done seq=(\d+) verified=(\d+) mismatches=0 ms=(\d+))")))
        << out.back();
    // Pacing never runs ahead of the rate; a loaded host may keep it behind, not this far.
    uint64_t writes = std::stoull(m[1]) - 512, ms = std::stoull(m[3]);
    EXPECT_LE(writes, 20 * (ms + 1)) << out.back();
    EXPECT_GE(writes, 20 * ms / 4) << out.back();
}

class DirtyAppApi : public HypervisorTest {};

TEST_F(DirtyAppApi, AWordChangedBehindItsBackIsAMismatch) {
    // One write a second: the changed pages are not written again before a pass sees them.
    ApiGuest g(hv(), "dirty", "mib=1 rate=1 report_ms=50 verify_ms=50 seconds=1");
    g.start();
    ASSERT_TRUE(g.console().wait_for("dirty: ready", 10s)) << g.console().text();
    auto buffer = buffer_address(g.console().lines());
    ASSERT_TRUE(buffer) << g.console().text();
    // The first word of every page: a write that never arrived looks like this.
    for (uint64_t page = 0; page < 256; ++page)
        ASSERT_TRUE(g.domain().memory().write<uint64_t>(*buffer + page * 4096, 0));

    auto end = g.wait_for_stop(10s);
    ASSERT_TRUE(end);
    EXPECT_EQ(g.domain().exit_status(), std::optional<uint32_t>(1)) << g.console().text();
    std::string text = g.console().text();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        text, m,
        std::regex(
            R"(dirty: MISMATCH page=(\d+) first=(\d+) last=(\d+) expect=(\d+) mid=(\d+)\n)")))
        << text;
    EXPECT_LT(std::stoull(m[1]), 256u);
    EXPECT_EQ(m[2], "0");
    EXPECT_EQ(m[3], m[4]);
    EXPECT_EQ(m[5], m[4]);
    EXPECT_GE(std::stoull(m[4]), 1u);
    // Reported once, counted for each page and pass.
    EXPECT_EQ(text.find("MISMATCH", m.position(0) + m.length(0)), std::string::npos) << text;
    EXPECT_TRUE(std::regex_search(
        text, std::regex(R"(dirty: done seq=\d+ verified=\d+ mismatches=[1-9]\d* ms=\d+)")))
        << text;
}

}  // namespace
}  // namespace xenolith::integration
