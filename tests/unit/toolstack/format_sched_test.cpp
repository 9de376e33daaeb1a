// xl's cpupool-list and sched-* layouts (tools/xl/xl_cpupool.c, xl_sched.c), from the
// control API's JSON.
#include <gtest/gtest.h>

#include "toolstack/format/sched_text.hpp"

namespace xenolith::format {
namespace {

using nlohmann::json;

TEST(FormatSched, CpupoolListAsXlPrintsIt) {
    json pools = json::array({{{"id", 0}, {"name", "Pool-0"}, {"sched", "credit"}, {"cpus", {0}}, {"nr_domains", 3}},
                              {{"id", 1}, {"name", "rt"}, {"sched", "rtds"}, {"cpus", {1, 2}}, {"nr_domains", 1}}});
    EXPECT_EQ(cpupool_list_text(pools, false),
              "Name               CPUs   Sched     Active   Domain count\n"
              "Pool-0               1    credit       y          3\n"
              "rt                   2      rtds       y          1\n");
    EXPECT_EQ(cpupool_list_text(pools, true),
              "Name               CPU list\n"
              "Pool-0             0\n"
              "rt                 1,2\n");
}

TEST(FormatSched, CreditListingHasThePoolLineThenWeightAndCap) {
    json pools = json::array({{{"name", "Pool-0"},
                               {"params", {{"tslice_ms", 30}, {"ratelimit_us", 1000}, {"migration_delay_us", 0}}},
                               {"domains", json::array({{{"domid", 3}, {"name", "web"}, {"params", {{"weight", 512}, {"cap", 50}}}}})}}});
    EXPECT_EQ(sched_show_text("credit", pools, false),
              "Cpupool Pool-0: tslice=30ms ratelimit=1000us migration-delay=0us\n"
              "Name                                ID Weight  Cap\n"
              "web                                  3    512   50\n");
}

TEST(FormatSched, Credit2PoolLine) {
    EXPECT_EQ(sched_pool_text("credit2", {{"name", "c2"}, {"params", {{"ratelimit_us", 500}}}}),
              "Cpupool c2: ratelimit=500us\n");
}

TEST(FormatSched, RtdsPerDomainAndPerVcpu) {
    json dom = {{"domid", 4},
                {"name", "rt1"},
                {"params", {{"period", 10000}, {"budget", 2000}, {"extratime", false}}},
                {"vcpus", json::array({{{"vcpu", 0}, {"period", 10000}, {"budget", 2000}, {"extratime", false}},
                                       {{"vcpu", 1}, {"period", 5000}, {"budget", 1000}, {"extratime", true}}})}};
    json pools = json::array({{{"name", "rt"}, {"params", json::object()}, {"domains", json::array({dom})}}});
    EXPECT_EQ(sched_show_text("rtds", pools, false),
              "Cpupool rt: sched=RTDS\n"
              "Name                                ID    Period    Budget  Extratime\n"
              "rt1                                  4     10000      2000         no\n");
    EXPECT_EQ(sched_show_text("rtds", pools, true),
              "Cpupool rt: sched=RTDS\n"
              "Name                                ID VCPU    Period    Budget  Extratime\n"
              "rt1                                  4    0     10000      2000         no\n"
              "rt1                                  4    1      5000      1000        yes\n");
}

TEST(FormatSched, Arinc653ListsTheWindowsInOrder) {
    json pools = json::array(
        {{{"name", "a653"},
          {"params", {{"major_frame_us", 20000},
                      {"windows", json::array({{{"domid", 5}, {"vcpu", 0}, {"runtime_us", 5000}},
                                               {{"domid", 6}, {"vcpu", 0}, {"runtime_us", 10000}}})}}},
          {"domains", json::array({{{"domid", 5}, {"name", "part-a"}}, {{"domid", 6}, {"name", "part-b"}}})}}});
    EXPECT_EQ(sched_show_text("arinc653", pools, false),
              "Cpupool a653: sched=ARINC653 major_frame=20000us\n"
              "Name                                ID VCPU  Runtime(us)\n"
              "part-a                               5    0         5000\n"
              "part-b                               6    0        10000\n");
}

}  // namespace
}  // namespace xenolith::format
