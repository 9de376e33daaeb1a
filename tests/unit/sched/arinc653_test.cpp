// The ARINC 653 scheduler on simulated CPUs: partitions run only inside their windows, an
// idle window is not given away, and schedules are validated as Xen does.
#include <gtest/gtest.h>

#include "abi/xen.hpp"
#include "tests/unit/sched/errno_of.hpp"
#include "tests/unit/sched/simulator.hpp"

namespace xenolith::sched::testing {
namespace {

// Major frame 20 ms: d1 for 5 ms, d2 for 8 ms, then 7 ms idle.
Arinc653Schedule two_partitions() {
    return Arinc653Schedule{milliseconds(20),
                            {{1, 0, milliseconds(5)}, {2, 0, milliseconds(8)}}};
}

// Every stretch of `u` lies inside [k*frame + from, k*frame + to) for some k, counting frames
// from `epoch`.
void expect_inside_windows(const Simulator& sim, const SchedUnit& u, Time epoch, Time frame,
                           Time from, Time to) {
    for (const Stretch& s : sim.trace_of(u)) {
        const Time frame_start = epoch + (s.start - epoch) / frame * frame;
        EXPECT_GE(s.start, frame_start + from) << u.name() << " at " << s.start;
        EXPECT_LE(s.end, frame_start + to) << u.name() << " until " << s.end;
    }
}

TEST(Arinc653Scheduler, DomainsRunOnlyInsideTheirWindows) {
    Simulator sim(1, "arinc653");
    sim.run_for(milliseconds(3));
    const Time epoch = sim.clock.now_ns();
    sim.pools.dispatcher(kPool0).set_params(two_partitions());
    SchedUnit& d1 = sim.add(1, 0);
    SchedUnit& d2 = sim.add(2, 0);
    SchedUnit& d3 = sim.add(3, 0);  // no window at all
    sim.run_for(seconds(1));
    expect_inside_windows(sim, d1, epoch, milliseconds(20), 0, milliseconds(5));
    expect_inside_windows(sim, d2, epoch, milliseconds(20), milliseconds(5), milliseconds(13));
    EXPECT_NEAR(double(sim.cpu_time(d1)) / double(seconds(1)), 0.25, 0.01);
    EXPECT_NEAR(double(sim.cpu_time(d2)) / double(seconds(1)), 0.40, 0.01);
    EXPECT_EQ(sim.cpu_time(d3), 0);
}

TEST(Arinc653Scheduler, ABlockedPartitionsWindowStaysIdle) {
    Simulator sim(1, "arinc653");
    sim.pools.dispatcher(kPool0).set_params(two_partitions());
    SchedUnit& d1 = sim.add(1, 0);
    SchedUnit& d2 = sim.add(2, 0);
    sim.pools.dispatcher(kPool0).block(d2);
    EXPECT_NEAR(sim.share(d1, seconds(1)), 0.25, 0.01);
    EXPECT_EQ(sim.cpu_time(d2), 0);
}

TEST(Arinc653Scheduler, OnlyTheHomeCpuRunsAPartition) {
    Simulator sim(2, "arinc653");
    sim.pools.dispatcher(kPool0).set_params(two_partitions());
    SchedUnit& d1 = sim.add(1, 0, Workload::cpu_bound(), kPool0, CpuSet{1});
    SchedUnit& d2 = sim.add(2, 0);
    sim.run_for(seconds(1));
    for (const Stretch& s : sim.trace_of(d1)) EXPECT_EQ(s.cpu, 1u);
    for (const Stretch& s : sim.trace_of(d2)) EXPECT_EQ(s.cpu, 0u);
    EXPECT_NEAR(double(sim.cpu_time(d1) + sim.cpu_time(d2)) / double(seconds(1)), 0.65, 0.01);
}

TEST(Arinc653Scheduler, NothingRunsBeforeAScheduleIsSet) {
    Simulator sim(1, "arinc653");
    SchedUnit& u = sim.add(1, 0);
    sim.run_for(milliseconds(100));
    EXPECT_EQ(sim.cpu_time(u), 0);
    EXPECT_TRUE(std::get<Arinc653Schedule>(sim.pools.dispatcher(kPool0).scheduler().params())
                    .windows.empty());
}

TEST(Arinc653Scheduler, SchedulesAreValidated) {
    Simulator sim(1, "arinc653");
    Dispatcher& d = sim.pools.dispatcher(kPool0);
    const Time ms = milliseconds(1);
    EXPECT_EQ(errno_of([&] { d.set_params(Arinc653Schedule{0, {{1, 0, ms}}}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(Arinc653Schedule{10 * ms, {}}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(Arinc653Schedule{10 * ms, {{1, 0, 0}}}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] {
                  d.set_params(Arinc653Schedule{10 * ms, {{1, 0, 6 * ms}, {2, 0, 5 * ms}}});
              }),
              XEN_EINVAL);
    Arinc653Schedule too_many{100 * ms, std::vector<Arinc653Window>(65, {1, 0, ms})};
    EXPECT_EQ(errno_of([&] { d.set_params(too_many); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(CreditGlobals{}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { d.set_params(two_partitions()); }), 0);
    EXPECT_EQ(std::get<Arinc653Schedule>(d.scheduler().params()), two_partitions());
}

}  // namespace
}  // namespace xenolith::sched::testing
