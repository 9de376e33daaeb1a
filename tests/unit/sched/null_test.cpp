// The null scheduler: one vCPU per CPU, no time slices, waiting vCPUs get a CPU only when
// one is freed.
#include <gtest/gtest.h>

#include "tests/unit/sched/simulator.hpp"

namespace xenolith::sched::testing {
namespace {

TEST(NullScheduler, EachVcpuOwnsACpuAndExtraOnesWait) {
    Simulator sim(2, "null");
    SchedUnit& a = sim.add(1, 0);
    SchedUnit& b = sim.add(2, 0);
    SchedUnit& c = sim.add(3, 0);
    sim.run_for(seconds(1));
    EXPECT_EQ(sim.cpu_time(a), seconds(1));
    EXPECT_EQ(sim.cpu_time(b), seconds(1));
    EXPECT_EQ(sim.cpu_time(c), 0);
    EXPECT_EQ(sim.trace().size(), 0u);  // nobody was ever pre-empted
    EXPECT_EQ(sim.pools.dispatcher(kPool0).current(0), &a);
    EXPECT_EQ(sim.pools.dispatcher(kPool0).current(1), &b);

    // a leaves: the waiting vCPU gets its CPU.
    sim.pools.remove_unit(a);
    sim.run_for(milliseconds(10));
    EXPECT_EQ(sim.pools.dispatcher(kPool0).current(0), &c);
    EXPECT_EQ(sim.cpu_time(c), milliseconds(10));
}

TEST(NullScheduler, ABlockedOwnersCpuIdles) {
    Simulator sim(1, "null");
    SchedUnit& owner = sim.add(1, 0, Workload::periodic(milliseconds(1), milliseconds(3)));
    SchedUnit& waiter = sim.add(2, 0);
    sim.run_for(seconds(1));
    EXPECT_NEAR(double(sim.cpu_time(owner)) / double(seconds(1)), 0.25, 0.01);
    EXPECT_EQ(sim.cpu_time(waiter), 0);
    EXPECT_EQ(sim.max_wake_latency(owner), 0);  // its CPU is always there for it
}

TEST(NullScheduler, SoftAffinityPicksTheCpu) {
    Simulator sim(2, "null");
    SchedUnit& u = sim.add(1, 0, Workload::cpu_bound(), kPool0, CpuSet::all(), CpuSet{1});
    sim.run_for(milliseconds(10));
    EXPECT_EQ(sim.pools.dispatcher(kPool0).current(1), &u);
}

TEST(NullScheduler, ACpuJoiningThePoolTakesAWaiter) {
    Simulator sim(2, "null");
    sim.pools.cpu_remove(kPool0, 1);
    SchedUnit& a = sim.add(1, 0);
    SchedUnit& b = sim.add(2, 0);
    sim.run_for(milliseconds(10));
    EXPECT_EQ(sim.cpu_time(b), 0);
    sim.pools.cpu_add(kPool0, 1);
    sim.run_for(milliseconds(10));
    EXPECT_EQ(sim.cpu_time(a), milliseconds(20));
    EXPECT_EQ(sim.cpu_time(b), milliseconds(10));
}

}  // namespace
}  // namespace xenolith::sched::testing
