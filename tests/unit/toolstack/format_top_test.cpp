// `xn top`'s rates between two samples, its state letters and its summary counts.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "toolstack/format/top_view.hpp"

namespace xenolith::format {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;

api::DomainInfo guest(uint32_t domid, std::string name) {
    api::DomainInfo d;
    d.domid = domid;
    d.name = std::move(name);
    d.vcpus_online = 1;
    d.uptime_ns = 100 * kSecond;
    return d;
}

TopSample sample(uint64_t at_s, std::vector<api::DomainInfo> doms) {
    TopSample s;
    s.taken_ns = at_s * kSecond;
    s.domains = std::move(doms);
    s.host.total_memory_mib = 1024;
    s.host.free_memory_mib = 512;
    s.host.nr_cpus = 4;
    s.host.cpu_khz = 2'000'000;
    return s;
}

// The whitespace-separated fields of the view's row for `name` (names have no spaces).
std::vector<std::string> row(const std::string& text, const std::string& name) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::vector<std::string> f;
        for (std::string w; fields >> w;) f.push_back(w);
        if (!f.empty() && f[0] == name) return f;
    }
    return {};
}

enum Col {
    kName,
    kState,
    kCpuSec,
    kCpuPct,
    kMem,
    kMemPct,
    kMax,
    kMaxPct,
    kVcpus,
    kExits,
    kHcalls,
    kEvtchns,
    kEvents,
    kGrants
};

class TopView : public ::testing::Test {
  protected:
    void SetUp() override {
        setenv("TZ", "UTC", 1);
        tzset();
    }
};

TEST_F(TopView, CpuPercentIsCpuTimeOverWallTimeAndCanPass100) {
    auto was = guest(1, "smp");
    auto is = was;
    is.cpu_time_ns += 5 * kSecond;  // four vCPUs busy for most of two seconds
    is.exits += 3000;
    is.hypercalls += 1000;
    is.events_sent += 10;
    const auto f = row(top_text(sample(10, {was}), sample(12, {is})), "smp");
    ASSERT_EQ(f.size(), 14u);
    EXPECT_EQ(f[kCpuPct], "250.0");
    EXPECT_EQ(f[kExits], "1500");
    EXPECT_EQ(f[kHcalls], "500");
    EXPECT_EQ(f[kEvents], "5");
}

TEST_F(TopView, NewAndRestartedDomainsShowNoRates) {
    auto old = guest(1, "restarted");
    old.uptime_ns = 500 * kSecond;
    old.exits = 10;
    auto again = guest(1, "restarted");
    again.uptime_ns = 1 * kSecond;  // a new incarnation under the same domid
    again.exits = 1'000'000;
    again.cpu_time_ns = 1 * kSecond;
    auto fresh = guest(2, "fresh");
    fresh.exits = 1'000'000;
    const std::string text = top_text(sample(10, {old}), sample(11, {again, fresh}));
    for (const char* name : {"restarted", "fresh"}) {
        const auto f = row(text, name);
        ASSERT_EQ(f.size(), 14u) << name;
        EXPECT_EQ(f[kCpuPct], "0.0") << name;
        EXPECT_EQ(f[kExits], "0") << name;
    }
}

TEST_F(TopView, NoElapsedTimeMeansNoRates) {
    auto was = guest(1, "g");
    auto is = was;
    is.cpu_time_ns += kSecond;
    is.exits += 5;
    const auto f = row(top_text(sample(10, {was}), sample(10, {is})), "g");
    EXPECT_EQ(f[kCpuPct], "0.0");
    EXPECT_EQ(f[kExits], "0");
}

TEST_F(TopView, StateLettersAreXentopsDsbcpr) {
    auto dying = guest(1, "dying");
    dying.dying = true;
    dying.shutdown = true;
    dying.shutdown_reason = 0;
    auto crashed = guest(2, "crashed");
    crashed.shutdown = true;
    crashed.shutdown_reason = 3;
    auto paused = guest(3, "paused");
    paused.paused = true;
    auto running = guest(4, "running");
    running.running = true;
    auto blocked = guest(5, "blocked");
    blocked.blocked = true;
    const std::string text =
        top_text(TopSample{}, sample(1, {dying, crashed, paused, running, blocked}));
    EXPECT_EQ(row(text, "dying")[kState], "ds----");
    EXPECT_EQ(row(text, "crashed")[kState], "-s-c--");
    EXPECT_EQ(row(text, "paused")[kState], "----p-");
    EXPECT_EQ(row(text, "running")[kState], "-----r");
    EXPECT_EQ(row(text, "blocked")[kState], "--b---");
    EXPECT_NE(text.find("\n5 domains: 1 running, 1 blocked, 1 paused, 1 crashed, 0 dying, "
                        "1 shutdown\n"),
              std::string::npos);
    EXPECT_NE(text.find("\nMem: 1048576k total, 524288k used, 524288k free    CPUs: 4 @ 2000MHz\n"),
              std::string::npos);
}

TEST_F(TopView, NamesAreCutToTenUnlessFullNames) {
    auto d = guest(1, "a-rather-long-guest-name");
    EXPECT_FALSE(row(top_text(TopSample{}, sample(1, {d})), "a-rather-l").empty());
    const std::string full = top_text(TopSample{}, sample(1, {d}), true);
    EXPECT_FALSE(row(full, "a-rather-long-guest-name").empty());
    // The header's NAME stays right-aligned over the widened column.
    EXPECT_NE(full.find("\n                    NAME  STATE"), std::string::npos);
}

TEST_F(TopView, RowsAreByDomid) {
    const std::string text =
        top_text(TopSample{}, sample(1, {guest(7, "seven"), guest(0, "zero")}));
    EXPECT_LT(text.find("zero"), text.find("seven"));
}

}  // namespace
}  // namespace xenolith::format
