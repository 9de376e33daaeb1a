// The credit scheduler on simulated CPUs: weights, caps, boost, load balancing, soft
// affinity, yield and its parameter ranges.
#include <gtest/gtest.h>

#include "abi/xen.hpp"
#include "sched/error.hpp"
#include "tests/unit/sched/errno_of.hpp"
#include "tests/unit/sched/simulator.hpp"

namespace xenolith::sched::testing {
namespace {

TEST(CreditScheduler, Weights256And512ShareOneCpuOneToTwo) {
    Simulator sim(1, "credit");
    SchedUnit& light = sim.add(1, 0);
    SchedUnit& heavy = sim.add(2, 0);
    sim.pools.dispatcher(kPool0).set_domain_params(1, CreditParams{256, 0});
    sim.pools.dispatcher(kPool0).set_domain_params(2, CreditParams{512, 0});
    sim.run_for(milliseconds(300));
    const Time l0 = sim.cpu_time(light), h0 = sim.cpu_time(heavy);
    sim.run_for(seconds(3));
    const double l = double(sim.cpu_time(light) - l0), h = double(sim.cpu_time(heavy) - h0);
    EXPECT_NEAR(h / l, 2.0, 0.2) << "light " << l / 1e6 << " ms, heavy " << h / 1e6 << " ms";
    EXPECT_NEAR((l + h) / double(seconds(3)), 1.0, 0.001);  // the CPU never idled
}

TEST(CreditScheduler, CapOf50HoldsWithAnIdleCpuAvailable) {
    Simulator sim(2, "credit");
    SchedUnit& capped = sim.add(1, 0);
    sim.pools.dispatcher(kPool0).set_domain_params(1, CreditParams{256, 50});
    const double share = sim.share(capped, seconds(3), milliseconds(300));
    EXPECT_NEAR(share, 0.50, 0.05);
}

TEST(CreditScheduler, CapCoversAllVcpusOfTheDomain) {
    Simulator sim(2, "credit");
    SchedUnit& a = sim.add(1, 0);
    SchedUnit& b = sim.add(1, 1);
    sim.pools.dispatcher(kPool0).set_domain_params(1, CreditParams{256, 100});
    sim.run_for(milliseconds(300));
    const Time a0 = sim.cpu_time(a), b0 = sim.cpu_time(b);
    sim.run_for(seconds(3));
    const double total = double(sim.cpu_time(a) - a0 + sim.cpu_time(b) - b0) / double(seconds(3));
    EXPECT_NEAR(total, 1.0, 0.05);  // 100% of one CPU for two vCPUs on two CPUs
}

TEST(CreditScheduler, UncappedVcpuUsesAWholeCpu) {
    Simulator sim(2, "credit");
    SchedUnit& u = sim.add(1, 0);
    EXPECT_NEAR(sim.share(u, seconds(1), milliseconds(100)), 1.0, 0.001);
}

TEST(CreditScheduler, ThreeEqualVcpusShareTwoCpusFairly) {
    Simulator sim(2, "credit");
    SchedUnit& a = sim.add(1, 0);
    SchedUnit& b = sim.add(2, 0);
    SchedUnit& c = sim.add(3, 0);
    sim.run_for(milliseconds(300));
    const Time a0 = sim.cpu_time(a), b0 = sim.cpu_time(b), c0 = sim.cpu_time(c);
    sim.run_for(seconds(3));
    for (auto [u, t0] : {std::pair{&a, a0}, {&b, b0}, {&c, c0}}) {
        const double share = double(sim.cpu_time(*u) - t0) / double(seconds(3));
        EXPECT_NEAR(share, 2.0 / 3.0, 0.1) << u->name();
    }
}

TEST(CreditScheduler, WakingVcpuIsBoostedPastACpuHog) {
    Simulator sim(1, "credit");
    sim.add(1, 0);  // CPU-bound, alone long enough to have lost its start-up boost
    sim.run_for(milliseconds(100));
    SchedUnit& io = sim.add(2, 0, Workload::periodic(microseconds(200), milliseconds(5)));
    sim.run_for(seconds(1));
    // Boosted on every wake, it waits at most the hog's ratelimit (1 ms), never a 30 ms slice.
    EXPECT_LE(sim.max_wake_latency(io), microseconds(1000));
    EXPECT_GT(sim.cpu_time(io), milliseconds(30));
}

TEST(CreditScheduler, RatelimitZeroLetsAWakerPreemptAtOnce) {
    Simulator sim(1, "credit");
    sim.pools.dispatcher(kPool0).set_params(CreditGlobals{30, 0, 0});
    sim.add(1, 0);
    sim.run_for(milliseconds(100));
    SchedUnit& io = sim.add(2, 0, Workload::periodic(microseconds(200), milliseconds(5)));
    sim.run_for(seconds(1));
    EXPECT_EQ(sim.max_wake_latency(io), 0);
}

TEST(CreditScheduler, SoftAffinityIsPreferred) {
    Simulator sim(2, "credit");
    SchedUnit& u = sim.add(1, 0, Workload::periodic(milliseconds(1), milliseconds(1)), kPool0,
                           CpuSet::all(), CpuSet{1});
    sim.run_for(seconds(1));
    for (const Stretch& s : sim.trace_of(u)) EXPECT_EQ(s.cpu, 1u);
}

TEST(CreditScheduler, YieldGivesTheCpuToAnEqual) {
    Simulator sim(1, "credit");
    SchedUnit& a = sim.add(1, 0);
    SchedUnit& b = sim.add(2, 0);  // both start boosted: equals
    Dispatcher& d = sim.pools.dispatcher(kPool0);
    ASSERT_EQ(d.current(0), &a);
    sim.run_for(milliseconds(2));  // past the ratelimit, inside the boost
    d.yield(a);
    EXPECT_EQ(d.current(0), &b);
}

TEST(CreditScheduler, DefaultsAreXens) {
    Simulator sim(1, "credit");
    sim.add(1, 0);
    Scheduler& s = sim.pools.dispatcher(kPool0).scheduler();
    EXPECT_EQ(s.name(), "credit");
    EXPECT_EQ(std::get<CreditGlobals>(s.params()), (CreditGlobals{30, 1000, 0}));
    EXPECT_EQ(std::get<CreditParams>(s.domain_params(1)), (CreditParams{256, 0}));
}

TEST(CreditScheduler, ParametersOutsideXensRangesAreRefused) {
    Simulator sim(2, "credit");
    sim.add(1, 0);
    sim.add(1, 1);
    Dispatcher& d = sim.pools.dispatcher(kPool0);
    EXPECT_EQ(errno_of([&] { d.set_domain_params(1, CreditParams{0, 0}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_domain_params(1, CreditParams{256, 201}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_domain_params(1, CreditParams{65535, 200}); }), 0);
    EXPECT_EQ(errno_of([&] { d.set_domain_params(7, CreditParams{}); }), XEN_ESRCH);
    EXPECT_EQ(errno_of([&] { d.set_domain_params(1, RtdsParams{}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(CreditGlobals{0, 0, 0}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(CreditGlobals{1001, 1000, 0}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(CreditGlobals{30, 99, 0}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(CreditGlobals{1, 1001, 0}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(CreditGlobals{30, 1000, 100001}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(CreditGlobals{10, 500, 100}); }), 0);
    EXPECT_EQ(errno_of([&] { d.scheduler().unit_params(*d.units().front()); }), XEN_EINVAL);
    EXPECT_EQ(message_of([&] { d.set_domain_params(1, CreditParams{256, 300}); }),
              "credit cap 300 for domain 1 is out of range 0..200 (100 per vCPU)");
}

}  // namespace
}  // namespace xenolith::sched::testing
