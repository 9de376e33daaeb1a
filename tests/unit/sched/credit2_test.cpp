// The credit2 scheduler on simulated CPUs: weights, caps, runqueue grouping, credit reset,
// pre-emption by waking vCPUs and its parameter ranges.
#include <gtest/gtest.h>

#include "abi/xen.hpp"
#include "tests/unit/sched/errno_of.hpp"
#include "tests/unit/sched/simulator.hpp"

namespace xenolith::sched::testing {
namespace {

TEST(Credit2Scheduler, Weights256And512ShareOneCpuOneToTwo) {
    Simulator sim(1, "credit2");
    SchedUnit& light = sim.add(1, 0);
    SchedUnit& heavy = sim.add(2, 0);
    sim.pools.dispatcher(kPool0).set_domain_params(1, Credit2Params{256, 0});
    sim.pools.dispatcher(kPool0).set_domain_params(2, Credit2Params{512, 0});
    sim.run_for(milliseconds(300));
    const Time l0 = sim.cpu_time(light), h0 = sim.cpu_time(heavy);
    sim.run_for(seconds(3));
    const double l = double(sim.cpu_time(light) - l0), h = double(sim.cpu_time(heavy) - h0);
    EXPECT_NEAR(h / l, 2.0, 0.2) << "light " << l / 1e6 << " ms, heavy " << h / 1e6 << " ms";
}

TEST(Credit2Scheduler, CapOf50HoldsWithAnIdleCpuAvailable) {
    Simulator sim(2, "credit2");
    SchedUnit& capped = sim.add(1, 0);
    sim.pools.dispatcher(kPool0).set_domain_params(1, Credit2Params{256, 50});
    EXPECT_NEAR(sim.share(capped, seconds(3), milliseconds(300)), 0.50, 0.05);
}

TEST(Credit2Scheduler, EqualVcpusShareACpuEvenly) {
    Simulator sim(1, "credit2");
    SchedUnit& a = sim.add(1, 0);
    SchedUnit& b = sim.add(2, 0);
    sim.run_for(seconds(2));
    EXPECT_NEAR(double(sim.cpu_time(a)) / double(sim.cpu_time(b)), 1.0, 0.05);
    // Credit resets keep everyone going: no stretch is longer than credit2's 10 ms maximum.
    for (const Stretch& s : sim.trace()) EXPECT_LE(s.end - s.start, milliseconds(10));
}

TEST(Credit2Scheduler, PerCpuRunqueuesStillUseBothCpus) {
    Simulator sim(2, "credit2");
    sim.pools.dispatcher(kPool0).set_params(Credit2Globals{1000, RunqueueGrouping::cpu});
    SchedUnit& a = sim.add(1, 0);
    SchedUnit& b = sim.add(2, 0);
    SchedUnit& c = sim.add(3, 0);
    sim.run_for(seconds(2));
    const double total = double(sim.cpu_time(a) + sim.cpu_time(b) + sim.cpu_time(c));
    EXPECT_NEAR(total / double(seconds(2)), 2.0, 0.01);  // neither CPU idles
    EXPECT_NE(sim.pools.dispatcher(kPool0).scheduler().dump(0).find("runqueues per cpu"),
              std::string::npos);
}

TEST(Credit2Scheduler, OneRunqueuePerSocketByDefault) {
    Topology two_sockets;
    two_sockets.set(0, CpuPlace{0, 0, 0});
    two_sockets.set(1, CpuPlace{1, 0, 0});
    Simulator sim(2, "credit2", two_sockets);
    SchedUnit& a = sim.add(1, 0);
    SchedUnit& b = sim.add(2, 0);
    SchedUnit& c = sim.add(3, 0);
    const std::string dump = sim.pools.dispatcher(kPool0).scheduler().dump(0);
    EXPECT_NE(dump.find("runqueue 0 CPUs 0 "), std::string::npos) << dump;
    EXPECT_NE(dump.find("runqueue 1 CPUs 1 "), std::string::npos) << dump;
    sim.run_for(seconds(1));
    EXPECT_NEAR(double(sim.cpu_time(a) + sim.cpu_time(b) + sim.cpu_time(c)) / double(seconds(1)),
                2.0, 0.01);
    // Regrouping at run time: one runqueue for the whole pool.
    sim.pools.dispatcher(kPool0).set_params(Credit2Globals{1000, RunqueueGrouping::all});
    EXPECT_NE(sim.pools.dispatcher(kPool0).scheduler().dump(0).find("runqueue 0 CPUs 0-1 "),
              std::string::npos);
    sim.run_for(seconds(1));
    EXPECT_NEAR(double(sim.cpu_time(a) + sim.cpu_time(b) + sim.cpu_time(c)) / double(seconds(2)),
                2.0, 0.01);
}

TEST(Credit2Scheduler, WakingVcpuWithMoreCreditPreempts) {
    Simulator sim(1, "credit2");
    sim.add(1, 0);
    sim.run_for(milliseconds(100));
    SchedUnit& io = sim.add(2, 0, Workload::periodic(microseconds(200), milliseconds(5)));
    // At first io may have no more credit than the hog; after the first credit reset it
    // always has more, since it hardly burns any.
    sim.run_for(milliseconds(100));
    sim.clear_stats();
    sim.run_for(seconds(1));
    EXPECT_LE(sim.max_wake_latency(io), microseconds(1000));  // the ratelimit at most
}

TEST(Credit2Scheduler, DefaultsAndRangesAreXens) {
    Simulator sim(1, "credit2");
    sim.add(1, 0);
    Dispatcher& d = sim.pools.dispatcher(kPool0);
    EXPECT_EQ(d.scheduler().name(), "credit2");
    EXPECT_EQ(std::get<Credit2Globals>(d.scheduler().params()),
              (Credit2Globals{1000, RunqueueGrouping::socket}));
    EXPECT_EQ(std::get<Credit2Params>(d.scheduler().domain_params(1)), (Credit2Params{256, 0}));
    EXPECT_EQ(errno_of([&] { d.set_domain_params(1, Credit2Params{0, 0}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_domain_params(1, Credit2Params{256, 101}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_domain_params(1, CreditParams{}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(Credit2Globals{50, RunqueueGrouping::all}); }),
              XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(Credit2Globals{0, RunqueueGrouping::all}); }), 0);
    EXPECT_EQ(errno_of([&] { d.set_params(CreditGlobals{}); }), XEN_EINVAL);
}

}  // namespace
}  // namespace xenolith::sched::testing
