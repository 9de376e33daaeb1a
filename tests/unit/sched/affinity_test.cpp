// Every scheduler honours hard affinity and never runs a vCPU on two CPUs at once, under a
// mixed load of pinned and unpinned, busy and sleepy vCPUs on two CPUs. (The dispatcher
// checks each decision too; this checks what actually ran.)
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/sched/simulator.hpp"

namespace xenolith::sched::testing {
namespace {

class EveryScheduler : public ::testing::TestWithParam<std::string_view> {};

TEST_P(EveryScheduler, HardAffinityIsNeverViolated) {
    Simulator sim(2, GetParam());
    if (GetParam() == "arinc653")
        sim.pools.dispatcher(kPool0).set_params(Arinc653Schedule{
            milliseconds(20),
            {{1, 0, milliseconds(4)}, {2, 0, milliseconds(4)}, {3, 0, milliseconds(4)},
             {4, 0, milliseconds(4)}}});
    std::vector<SchedUnit*> units = {
        &sim.add(1, 0, Workload::cpu_bound(), kPool0, CpuSet{0}),
        &sim.add(2, 0, Workload::periodic(microseconds(700), milliseconds(2)), kPool0, CpuSet{1}),
        &sim.add(3, 0, Workload::cpu_bound(), kPool0, CpuSet{0, 1}, CpuSet{1}),
        &sim.add(4, 0, Workload::periodic(milliseconds(3), microseconds(300)), kPool0,
                 CpuSet{1}),
    };
    sim.run_for(milliseconds(500));
    // Re-pin a busy vCPU while things run.
    sim.pools.dispatcher(kPool0).set_affinity(*units[2], CpuSet{0}, CpuSet::all());
    const Time repinned = sim.clock.now_ns();
    sim.run_for(milliseconds(500));

    for (const Stretch& s : sim.trace()) {
        const CpuSet allowed =
            (s.unit == units[2] && s.start < repinned) ? CpuSet{0, 1} : s.unit->hard_affinity();
        EXPECT_TRUE(allowed.contains(s.cpu)) << s.unit->name() << " on CPU " << s.cpu;
    }
    // No unit overlaps itself, no CPU runs two units at once.
    std::vector<Stretch> t = sim.trace();
    std::sort(t.begin(), t.end(),
              [](const Stretch& x, const Stretch& y) { return x.start < y.start; });
    for (size_t i = 0; i < t.size(); ++i)
        for (size_t j = i + 1; j < t.size() && t[j].start < t[i].end; ++j) {
            EXPECT_NE(t[i].unit, t[j].unit) << "overlap at " << t[j].start;
            EXPECT_NE(t[i].cpu, t[j].cpu) << "overlap at " << t[j].start;
        }
    Time total = 0;
    for (const SchedUnit* u : units) total += sim.cpu_time(*u);
    EXPECT_GT(total, 0);
    EXPECT_LE(total, 2 * seconds(1));
}

INSTANTIATE_TEST_SUITE_P(Sched, EveryScheduler, ::testing::ValuesIn(scheduler_names()),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace xenolith::sched::testing
