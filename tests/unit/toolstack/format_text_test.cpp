// xl's text formats, case by case: the CPU-list spelling of print_bitmap, uptime strings,
// the shutdown-reason letter of `xl list`, offline and unplaced vCPUs, and `xl list -l`.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "toolstack/format/xl_text.hpp"

namespace xenolith::format {
namespace {

TEST(FormatCpuList, SpellsSetsAsXlPrintsBitmaps) {
    EXPECT_EQ(cpu_list_text({0, 1, 2, 3}, 4), "all");
    EXPECT_EQ(cpu_list_text({0}, 1), "all");
    EXPECT_EQ(cpu_list_text({}, 4), "none");
    EXPECT_EQ(cpu_list_text({}, 0), "none");
    EXPECT_EQ(cpu_list_text({2}, 4), "2");
    EXPECT_EQ(cpu_list_text({0, 1, 2}, 4), "0-2");
    EXPECT_EQ(cpu_list_text({1, 2, 3}, 4), "1-3");
    EXPECT_EQ(cpu_list_text({0, 2, 3}, 4), "0,2-3");
    EXPECT_EQ(cpu_list_text({0, 1, 3, 5, 6, 7}, 8), "0-1,3,5-7");
}

TEST(FormatCpuList, IgnoresOrderDuplicatesAndCpusBeyondTheHost) {
    EXPECT_EQ(cpu_list_text({3, 1, 2, 1}, 4), "1-3");
    EXPECT_EQ(cpu_list_text({5}, 4), "none");
    EXPECT_EQ(cpu_list_text({0, 1, 2, 3, 9}, 4), "all");
}

TEST(FormatUptime, PadsHoursAndCountsDaysAsXl) {
    EXPECT_EQ(uptime_string(0, false), " 0:00:00");
    EXPECT_EQ(uptime_string(83, false), " 0:01:23");
    EXPECT_EQ(uptime_string(10 * 3600 + 5, false), "10:00:05");
    EXPECT_EQ(uptime_string(86400 + 2 * 3600 + 3 * 60 + 4, false), "1 day,  2:03:04");
    EXPECT_EQ(uptime_string(2 * 86400 + 23 * 3600 + 59 * 60 + 59, false), "2 days, 23:59:59");
    EXPECT_EQ(uptime_string(83, true), " 0:01");
    EXPECT_EQ(uptime_string(3 * 86400 + 60, true), "3 days,  0:01");
}

TEST(FormatUptime, ShortFormHasNoHeaderAndStartsWithTheClock) {
    setenv("TZ", "UTC", 1);
    tzset();
    api::DomainInfo d;
    d.domid = 7;
    d.name = "guest";
    d.uptime_ns = 61'500'000'000;
    EXPECT_EQ(uptime_text({d}, true, 3600'000'000'000), " 01:00:00 up  0:01, guest (7)\n");
    EXPECT_EQ(uptime_text({d}, false),
              "Name                                ID Uptime\n"
              "guest                                7  0:01:01\n");
}

// The State column of one `xl list` row: after 40 + 1 + 5 + 1 + 5 + 1 + 5 + 5 columns.
std::string state_of(const api::DomainInfo& d) {
    const std::string text = list_text({d}, false);
    const std::string row = text.substr(text.find('\n') + 1);
    return row.substr(63, 6);
}

TEST(FormatXlList, FifthLetterIsTheShutdownReason) {
    api::DomainInfo d;
    d.name = "g";
    d.shutdown = true;
    const char* expected[] = {"---s--", "---sr-", "---ss-", "---sc-", "---sw-", "---sS-", "---s?-"};
    for (uint32_t reason = 0; reason <= 6; ++reason) {
        d.shutdown_reason = reason;
        EXPECT_EQ(state_of(d), expected[reason]) << "reason " << reason;
    }
}

TEST(FormatXlList, UnknownReasonIsAQuestionMarkAndAllOnesCode) {
    api::DomainInfo d;
    d.name = "g";
    d.uuid = "u";
    d.shutdown = true;
    EXPECT_EQ(state_of(d), "---s?-");
    EXPECT_NE(list_text({d}, true).find(" u ffffffff "), std::string::npos);
}

TEST(FormatXlList, ReasonIsIgnoredUnlessShutDown) {
    api::DomainInfo d;
    d.name = "g";
    d.uuid = "u";
    d.running = true;
    d.shutdown_reason = 3;
    EXPECT_EQ(state_of(d), "r-----");
    EXPECT_NE(list_text({d}, true).find(" u        - "), std::string::npos);
}

TEST(FormatXlList, EmptyListIsTheHeaderAlone) {
    EXPECT_EQ(list_text({}, false),
              "Name                                        ID   Mem VCPUs\tState\tTime(s)\n");
}

TEST(FormatXlVcpuList, OnlineVcpuNotYetPlacedShowsDashForCpu) {
    api::VcpuInfo v;
    v.domain_name = "g";
    v.domid = 3;
    v.online = true;
    v.blocked = true;
    const std::string text = vcpu_list_text({v});
    const std::string row = text.substr(text.find('\n') + 1);
    EXPECT_EQ(row,
              "g                                    3     0    -   -b-       0.0  all / all\n");
}

TEST(FormatXlInfo, NoVirtCapsLeavesNoTrailingSpace) {
    api::HostInfo h;
    EXPECT_NE(info_text(h).find("\nvirt_caps              :\n"), std::string::npos);
}

TEST(FormatXlInfo, EveryKeyIsPaddedTo23Columns) {
    std::istringstream lines(info_text(api::HostInfo{}));
    std::string line;
    while (std::getline(lines, line)) {
        ASSERT_GE(line.size(), 24u) << line;
        EXPECT_EQ(line[23], ':') << line;
    }
}

TEST(FormatXlListLong, DomidComesFirstAndInfoRoundTrips) {
    api::DomainInfo d;
    d.domid = 9;
    d.name = "g";
    d.shutdown = true;
    d.shutdown_reason = 2;
    const std::string text = list_long_json({{d, nlohmann::json{{"c_info", {{"name", "g"}}}}}});
    EXPECT_EQ(text.substr(0, 26), "[\n    {\n        \"domid\": 9");
    EXPECT_EQ(text.back(), '\n');
    const auto j = nlohmann::json::parse(text);
    ASSERT_EQ(j.size(), 1u);
    EXPECT_EQ(j[0]["config"]["c_info"]["name"], "g");
    const auto back = j[0]["info"].get<api::DomainInfo>();
    EXPECT_EQ(back.name, "g");
    EXPECT_EQ(back.shutdown_reason, 2u);
    EXPECT_EQ(list_long_json({}), "[]\n");
}

}  // namespace
}  // namespace xenolith::format
