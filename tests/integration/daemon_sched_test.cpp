// CPU pools and scheduler parameters through xn, as a user would drive them (issue 5's
// acceptance): a pool with RTDS beside Pool-0 with credit, domains in each, parameters
// changed live, and the shares following (the share figures themselves are pinned by
// tests/integration/sched_test.cpp on the hypervisor directly).
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/daemon_harness.hpp"

namespace xenolith::integration {
namespace {

class DaemonSched : public DaemonTest {
protected:
    void SetUp() override {
        DaemonTest::SetUp();
        ASSERT_TRUE(start_daemon());
        ASSERT_GE(host_cpus(), 2u) << "pools need a host with two CPUs";
    }
    std::string out(const std::vector<std::string>& args) {
        ProcessResult r = xn(args);
        EXPECT_EQ(r.exit_code, 0) << describe(r);
        return r.out;
    }
    // A new pool "rt" on CPU 1 with `sched`.
    void make_pool(const std::string& sched) {
        ASSERT_EQ(xn({"cpupool-cpu-remove", "Pool-0", "1"}).exit_code, 0);
        ProcessResult r = xn({"cpupool-create", "name=\"rt\"", "sched=\"" + sched + "\"", "cpus=\"1\""});
        ASSERT_EQ(r.exit_code, 0) << describe(r);
        EXPECT_NE(r.out.find("cpupool name:   rt\nscheduler:      " + sched + "\nnumber of cpus: 1\n"),
                  std::string::npos)
            << r.out;
    }
};

TEST_F(DaemonSched, Pool0HoldsEveryCpuWithCreditAtStart) {
    std::string list = out({"cpupool-list"});
    char row[128];
    std::snprintf(row, sizeof row, "%-19s%3u %9s       y       %4u\n", "Pool-0", host_cpus(), "credit", 0u);
    EXPECT_EQ(list, "Name               CPUs   Sched     Active   Domain count\n" + std::string(row));
    EXPECT_NE(out({"info"}).find("xen_scheduler          : credit\n"), std::string::npos);
}

TEST_F(DaemonSched, PoolsSplitTheCpusAndDomainsLandInTheirPool) {
    make_pool("rtds");
    std::string list = out({"cpupool-list", "-c"});
    EXPECT_NE(list.find("Pool-0             0\n"), std::string::npos) << list;
    EXPECT_NE(list.find("rt                 1\n"), std::string::npos) << list;
    // A CPU belongs to one pool: adding CPU 0 to rt is refused while Pool-0 has it.
    ProcessResult busy = xn({"cpupool-cpu-add", "rt", "0"});
    EXPECT_EQ(busy.exit_code, 1) << describe(busy);

    auto a = create("spin", "in-rt", "seconds=30", "pool = \"rt\"\n");
    auto b = create("hello", "in-pool0", "sleep_ms=100000");
    ASSERT_TRUE(a && b);
    nlohmann::json la = long_entry(*a);
    EXPECT_EQ(la["info"]["pool"], "rt");
    EXPECT_EQ(long_entry(*b)["info"]["pool"], "Pool-0");
    // The spin domain runs, and only on CPU 1.
    std::this_thread::sleep_for(300ms);
    ProcessResult v = xn({"vcpu-list", "in-rt"});
    ASSERT_EQ(v.exit_code, 0);
    EXPECT_NE(v.out.find("    1   r"), std::string::npos) << v.out;

    // A pool with domains cannot go; an unknown pool is named.
    EXPECT_EQ(xn({"cpupool-destroy", "rt"}).exit_code, 1);
    ProcessResult unknown = xn({"cpupool-migrate", "in-rt", "nope"});
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_NE(unknown.err.find("nope"), std::string::npos) << unknown.err;
    // A config naming a pool that does not exist is refused with its name.
    ProcessResult bad = xn({"create", write_config("bad.cfg", config_text("hello", "bad", "", "pool = \"nope\"\n"))});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("nope"), std::string::npos) << bad.err;

    // Migrating keeps it running, now in Pool-0. Its hard affinity named only CPU 1, which
    // Pool-0 no longer has: as in Xen, that affinity is broken, and vcpu-list says so.
    ASSERT_EQ(xn({"vcpu-pin", "in-rt", "0", "1"}).exit_code, 0);
    EXPECT_NE(out({"vcpu-list", "in-rt"}).find("  1 / all\n"), std::string::npos);
    ASSERT_EQ(xn({"cpupool-migrate", "in-rt", "Pool-0"}).exit_code, 0);
    EXPECT_EQ(long_entry(*a)["info"]["pool"], "Pool-0");
    std::string after = out({"vcpu-list", "in-rt"});
    EXPECT_NE(after.find("  all / all\n"), std::string::npos) << after;
    double before = long_entry(*a)["info"]["cpu_time_ns"].get<double>();
    std::this_thread::sleep_for(300ms);
    EXPECT_GT(long_entry(*a)["info"]["cpu_time_ns"].get<double>(), before + 50e6);
    ASSERT_EQ(xn({"cpupool-destroy", "rt"}).exit_code, 0);
    ASSERT_EQ(xn({"cpupool-cpu-add", "Pool-0", "1"}).exit_code, 0);
}

TEST_F(DaemonSched, CreditWeightAndCapFromTheConfigAndChangedLive) {
    auto id = create("hello", "weighted", "sleep_ms=100000", "weight = 512\ncap = 50\n");
    ASSERT_TRUE(id);
    std::string shown = out({"sched-credit", "-d", "weighted"});
    char row[128];
    std::snprintf(row, sizeof row, "%-33s %4u %6u %4u\n", "weighted", *id, 512u, 50u);
    EXPECT_EQ(shown, "Name                                ID Weight  Cap\n" + std::string(row));
    ASSERT_EQ(xn({"sched-credit", "-d", "weighted", "-w", "1024", "-c", "0"}).exit_code, 0);
    std::snprintf(row, sizeof row, "%-33s %4u %6u %4u\n", "weighted", *id, 1024u, 0u);
    EXPECT_NE(out({"sched-credit"}).find(row), std::string::npos);
    EXPECT_NE(out({"sched-credit", "-s"}).find("Cpupool Pool-0: tslice=30ms ratelimit=1000us"), std::string::npos);
    ASSERT_EQ(xn({"sched-credit", "-s", "-t", "10"}).exit_code, 0);
    EXPECT_NE(out({"sched-credit", "-s"}).find("tslice=10ms"), std::string::npos);
    ProcessResult bad = xn({"sched-credit", "-d", "weighted", "-w", "0"});
    EXPECT_EQ(bad.exit_code, 1);  // weights are 1..65535
}

TEST_F(DaemonSched, RtdsBudgetsPerDomainAndPerVcpu) {
    make_pool("rtds");
    auto id = create("hello", "rt1", "sleep_ms=100000", "pool = \"rt\"\nvcpus = 2\n");
    ASSERT_TRUE(id);
    // Per domain: every vCPU gets the values. The domain-level listing shows RTDS's
    // defaults, as Xen's getinfo returns them; the vCPUs' own are in `-v all`.
    ASSERT_EQ(xn({"sched-rtds", "-d", "rt1", "-p", "10000", "-b", "2000", "-e", "0"}).exit_code, 0);
    std::string listing = out({"sched-rtds"});
    char row[128];
    std::snprintf(row, sizeof row, "%-33s %4u %9u %9u %10s\n", "rt1", *id, 10000u, 4000u, "yes");
    EXPECT_NE(listing.find("Cpupool rt: sched=RTDS\n"), std::string::npos) << listing;
    EXPECT_NE(listing.find(row), std::string::npos) << listing;
    std::string both = out({"sched-rtds", "-d", "rt1", "-v", "all"});
    std::snprintf(row, sizeof row, "%-33s %4u %4u %9u %9u %10s\n", "rt1", *id, 0u, 10000u, 2000u, "no");
    EXPECT_NE(both.find(row), std::string::npos) << both;
    ASSERT_EQ(xn({"sched-rtds", "-d", "rt1", "-v", "1", "-p", "5000", "-b", "1000", "-e", "1"}).exit_code, 0);
    std::string per_vcpu = out({"sched-rtds", "-d", "rt1", "-v", "all"});
    std::snprintf(row, sizeof row, "%-33s %4u %4u %9u %9u %10s\n", "rt1", *id, 1u, 5000u, 1000u, "yes");
    EXPECT_NE(per_vcpu.find(row), std::string::npos) << per_vcpu;
    // A budget above its period is refused.
    EXPECT_EQ(xn({"sched-rtds", "-d", "rt1", "-p", "1000", "-b", "2000"}).exit_code, 1);
    // credit's command on an rtds domain says which scheduler it has.
    ProcessResult wrong = xn({"sched-credit", "-d", "rt1", "-w", "300"});
    EXPECT_EQ(wrong.exit_code, 1);
    EXPECT_NE(wrong.err.find("rtds"), std::string::npos) << wrong.err;
}

TEST_F(DaemonSched, BadPoolNamesAndWindowsAreRefusedWithTheReason) {
    ProcessResult spaced = xn({"cpupool-create", "name=\"two words\"", "cpus=\"1\""});
    EXPECT_EQ(spaced.exit_code, 1) << describe(spaced);
    EXPECT_NE(spaced.err.find("invalid pool name"), std::string::npos) << spaced.err;
    ProcessResult digits = xn({"cpupool-rename", "Pool-0", "42"});
    EXPECT_EQ(digits.exit_code, 1) << describe(digits);
    EXPECT_NE(digits.err.find("all digits"), std::string::npos) << digits.err;
    ProcessResult window = xn({"sched-arinc653", "-w", "Domain-0:x:5000"});
    EXPECT_EQ(window.exit_code, 1) << describe(window);
    EXPECT_NE(window.err.find("DOMAIN:VCPU:RUNTIME_US"), std::string::npos) << window.err;
    EXPECT_EQ(out({"cpupool-list"}).find("two words"), std::string::npos);
}

TEST_F(DaemonSched, Arinc653ScheduleIsSetAndShown) {
    make_pool("arinc653");
    auto id = create("hello", "part", "sleep_ms=100000", "pool = \"rt\"\n");
    ASSERT_TRUE(id);
    ASSERT_EQ(xn({"sched-arinc653", "-p", "rt", "-w", "part:0:5000", "-f", "20000"}).exit_code, 0);
    std::string shown = out({"sched-arinc653", "-p", "rt"});
    char row[128];
    std::snprintf(row, sizeof row, "%-33s %4u %4u %12u\n", "part", *id, 0u, 5000u);
    EXPECT_NE(shown.find("Cpupool rt: sched=ARINC653 major_frame=20000us\n"), std::string::npos) << shown;
    EXPECT_NE(shown.find(row), std::string::npos) << shown;
}

}  // namespace
}  // namespace xenolith::integration
