// The RTDS scheduler on simulated CPUs: reservations under competition, EDF, extratime,
// budget kept while blocked, and its parameter ranges.
#include <gtest/gtest.h>

#include "abi/xen.hpp"
#include "tests/unit/sched/errno_of.hpp"
#include "tests/unit/sched/simulator.hpp"

namespace xenolith::sched::testing {
namespace {

TEST(RtdsScheduler, Budget2msPer10msGets20PercentBesideACpuHog) {
    Simulator sim(1, "rtds");
    SchedUnit& rt = sim.add(1, 0);
    SchedUnit& hog = sim.add(2, 0);  // default 4 ms / 10 ms with extratime
    Dispatcher& d = sim.pools.dispatcher(kPool0);
    d.set_unit_params(rt, RtdsParams{10000, 2000, false});
    EXPECT_NEAR(sim.share(rt, seconds(2), milliseconds(100)), 0.20, 0.03);
    EXPECT_NEAR(sim.share(hog, seconds(1)), 0.80, 0.03);
}

TEST(RtdsScheduler, ReservationsHoldOnTwoCpusUnderOverload) {
    Simulator sim(2, "rtds");
    SchedUnit& a = sim.add(1, 0);
    SchedUnit& b = sim.add(2, 0);
    sim.add(3, 0);  // hogs with extratime and the default reservation
    sim.add(4, 0);
    Dispatcher& d = sim.pools.dispatcher(kPool0);
    d.set_unit_params(a, RtdsParams{10000, 2000, false});
    d.set_unit_params(b, RtdsParams{20000, 10000, false});
    sim.run_for(milliseconds(100));
    const Time a0 = sim.cpu_time(a), b0 = sim.cpu_time(b);
    sim.run_for(seconds(2));
    EXPECT_NEAR(double(sim.cpu_time(a) - a0) / double(seconds(2)), 0.20, 0.03);
    EXPECT_NEAR(double(sim.cpu_time(b) - b0) / double(seconds(2)), 0.50, 0.03);
}

TEST(RtdsScheduler, WithoutExtratimeAVcpuGetsOnlyItsBudget) {
    Simulator sim(2, "rtds");
    SchedUnit& u = sim.add(1, 0);
    sim.pools.dispatcher(kPool0).set_unit_params(u, RtdsParams{10000, 3000, false});
    EXPECT_NEAR(sim.share(u, seconds(1), milliseconds(50)), 0.30, 0.01);
}

TEST(RtdsScheduler, ExtratimeLetsAVcpuRunWhenNothingElseIsRunnable) {
    Simulator sim(1, "rtds");
    SchedUnit& u = sim.add(1, 0);
    sim.pools.dispatcher(kPool0).set_unit_params(u, RtdsParams{10000, 3000, true});
    EXPECT_NEAR(sim.share(u, seconds(1), milliseconds(50)), 1.0, 0.001);
}

TEST(RtdsScheduler, EarliestDeadlineRunsFirst) {
    Simulator sim(1, "rtds");
    SchedUnit& slow = sim.add(1, 0);
    SchedUnit& fast = sim.add(2, 0);
    Dispatcher& d = sim.pools.dispatcher(kPool0);
    d.set_unit_params(slow, RtdsParams{100000, 50000, false});
    d.set_unit_params(fast, RtdsParams{1000, 300, false});
    sim.run_for(milliseconds(200));
    // fast's 300 us every 1 ms is never late, even with slow's 50 ms budget pending.
    for (Time start = milliseconds(100); start < milliseconds(200); start += milliseconds(1)) {
        Time got = 0;
        for (const Stretch& s : sim.trace_of(fast))
            got += std::max<Time>(
                0, std::min(s.end, start + milliseconds(1)) - std::max(s.start, start));
        EXPECT_EQ(got, microseconds(300)) << "period at " << start / 1000 << " us";
    }
}

TEST(RtdsScheduler, BudgetIsKeptWhileBlocked) {
    Simulator sim(1, "rtds");
    // Bursts of 1 ms with 1 ms sleeps: it spends its 2 ms per 5 ms in two pieces, so it gets
    // 40% only if the budget survives the sleep in between.
    SchedUnit& io = sim.add(1, 0, Workload::periodic(milliseconds(1), milliseconds(1)));
    SchedUnit& hog = sim.add(2, 0);
    Dispatcher& d = sim.pools.dispatcher(kPool0);
    d.set_unit_params(io, RtdsParams{5000, 2000, false});
    d.set_unit_params(hog, RtdsParams{10000, 4000, true});
    sim.run_for(seconds(1));
    EXPECT_NEAR(double(sim.cpu_time(io)) / double(seconds(1)), 0.40, 0.02);
    EXPECT_NEAR(double(sim.cpu_time(hog)) / double(seconds(1)), 0.60, 0.02);
}

TEST(RtdsScheduler, ParametersAreValidatedAndPerVcpu) {
    Simulator sim(1, "rtds");
    SchedUnit& u0 = sim.add(1, 0);
    SchedUnit& u1 = sim.add(1, 1);
    Dispatcher& d = sim.pools.dispatcher(kPool0);
    EXPECT_EQ(std::get<RtdsParams>(d.scheduler().unit_params(u0)), (RtdsParams{10000, 4000, true}));
    EXPECT_EQ(errno_of([&] { d.set_unit_params(u0, RtdsParams{10000, 10001, true}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_unit_params(u0, RtdsParams{10000, 9, true}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_unit_params(u0, RtdsParams{9, 9, true}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_unit_params(u0, CreditParams{}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(CreditGlobals{}); }), XEN_EINVAL);
    d.set_unit_params(u1, RtdsParams{5000, 1000, false});
    EXPECT_EQ(std::get<RtdsParams>(d.scheduler().unit_params(u1)), (RtdsParams{5000, 1000, false}));
    EXPECT_EQ(std::get<RtdsParams>(d.scheduler().unit_params(u0)), (RtdsParams{10000, 4000, true}));
    // Per domain: sets period and budget of every vCPU; reading gives Xen's defaults.
    d.set_domain_params(1, RtdsParams{20000, 5000, true});
    EXPECT_EQ(std::get<RtdsParams>(d.scheduler().unit_params(u0)), (RtdsParams{20000, 5000, true}));
    EXPECT_EQ(std::get<RtdsParams>(d.scheduler().unit_params(u1)),
              (RtdsParams{20000, 5000, false}));
    EXPECT_EQ(std::get<RtdsParams>(d.scheduler().domain_params(1)), RtdsParams{});
    EXPECT_EQ(errno_of([&] { d.scheduler().domain_params(9); }), XEN_ESRCH);
}

}  // namespace
}  // namespace xenolith::sched::testing
