// CPU pools: Pool-0 at start, create/destroy/rename, CPUs moving between pools, domains
// placed in and migrated between pools with different schedulers.
#include <gtest/gtest.h>

#include "abi/xen.hpp"
#include "tests/unit/sched/errno_of.hpp"
#include "tests/unit/sched/simulator.hpp"

namespace xenolith::sched::testing {
namespace {

TEST(CpuPools, Pool0HoldsEveryCpuWithCreditAtStart) {
    Simulator sim(2);
    const auto pools = sim.pools.list();
    ASSERT_EQ(pools.size(), 1u);
    EXPECT_EQ(pools[0].id, kPool0);
    EXPECT_EQ(pools[0].name, "Pool-0");
    EXPECT_EQ(pools[0].sched, "credit");
    EXPECT_EQ(pools[0].cpus, (CpuSet{0, 1}));
    EXPECT_EQ(pools[0].nr_domains, 0u);
    EXPECT_TRUE(sim.pools.free_cpus().empty());
}

TEST(CpuPools, CreateTakesOnlyFreeCpus) {
    Simulator sim(2);
    EXPECT_EQ(errno_of([&] { sim.pools.create("rt", "rtds", CpuSet{1}); }), XEN_ENODEV);
    EXPECT_EQ(message_of([&] { sim.pools.create("rt", "rtds", CpuSet{1}); }),
              "CPU 1 is in pool 'Pool-0'; remove it from there first");
    sim.pools.cpu_remove(kPool0, 1);
    EXPECT_EQ(sim.pools.free_cpus(), CpuSet{1});
    EXPECT_EQ(errno_of([&] { sim.pools.create("rt", "rtds", CpuSet{2}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { sim.pools.create("rt", "fifo", CpuSet{1}); }), XEN_EINVAL);
    EXPECT_EQ(errno_of([&] { sim.pools.create("Pool-0", "rtds", CpuSet{1}); }), XEN_EEXIST);
    EXPECT_EQ(errno_of([&] { sim.pools.create("", "rtds", CpuSet{1}); }), XEN_EINVAL);
    const PoolId rt = sim.pools.create("rt", "rtds", CpuSet{1});
    EXPECT_EQ(rt, 1u);
    EXPECT_TRUE(sim.pools.free_cpus().empty());
    const auto pools = sim.pools.list();
    ASSERT_EQ(pools.size(), 2u);
    EXPECT_EQ(pools[1].name, "rt");
    EXPECT_EQ(pools[1].sched, "rtds");
    EXPECT_EQ(pools[1].cpus, CpuSet{1});
    EXPECT_EQ(pools[0].cpus, CpuSet{0});
    EXPECT_EQ(sim.pools.id_of("rt"), rt);
    EXPECT_EQ(errno_of([&] { sim.pools.id_of("nope"); }), XEN_ENOENT);
}

TEST(CpuPools, EachSchedulerCanRunAPool) {
    for (std::string_view name : scheduler_names()) {
        Simulator sim(2);
        sim.pools.cpu_remove(kPool0, 1);
        const PoolId id = sim.pools.create(std::string(name) + "-pool", name, CpuSet{1});
        SchedUnit& u = sim.add(1, 0, Workload::cpu_bound(), id);
        sim.run_for(milliseconds(5));
        const std::string dump = sim.pools.dispatcher(id).dump();
        EXPECT_EQ(sim.pools.dispatcher(id).scheduler().name(), name);
        EXPECT_NE(dump.find("Scheduler: " + std::string(name)), std::string::npos) << dump;
        EXPECT_NE(dump.find(name == "arinc653" ? "CPU 1: idle" : "d1v0"), std::string::npos)
            << dump;
        sim.pools.remove_unit(u);
    }
    EXPECT_EQ(scheduler_names().front(), "credit");
    EXPECT_EQ(scheduler_names().size(), 5u);
}

TEST(CpuPools, CpuRemovalRulesAreXens) {
    Simulator sim(2);
    EXPECT_EQ(errno_of([&] { sim.pools.cpu_remove(kPool0, 0); }), XEN_EINVAL);  // CPU 0 stays
    sim.pools.cpu_remove(kPool0, 1);
    EXPECT_EQ(errno_of([&] { sim.pools.cpu_remove(kPool0, 1); }), XEN_EADDRNOTAVAIL);
    const PoolId p = sim.pools.create("p", "credit2", CpuSet{1});
    sim.add(5, 0, Workload::cpu_bound(), p);
    EXPECT_EQ(errno_of([&] { sim.pools.cpu_remove(p, 1); }), XEN_EBUSY);  // its last CPU
    EXPECT_EQ(errno_of([&] { sim.pools.cpu_add(kPool0, 1); }), XEN_ENODEV);  // not free
    EXPECT_EQ(errno_of([&] { sim.pools.cpu_add(7, 1); }), XEN_ENOENT);
}

TEST(CpuPools, DestroyOnlyAnEmptyPoolAndItsCpusBecomeFree) {
    Simulator sim(2);
    sim.pools.cpu_remove(kPool0, 1);
    const PoolId p = sim.pools.create("p", "null", CpuSet{1});
    SchedUnit& u = sim.add(3, 0, Workload::cpu_bound(), p);
    EXPECT_EQ(errno_of([&] { sim.pools.destroy(p); }), XEN_EBUSY);
    EXPECT_EQ(errno_of([&] { sim.pools.destroy(kPool0); }), XEN_EINVAL);
    sim.pools.remove_unit(u);
    sim.pools.destroy(p);
    EXPECT_EQ(sim.pools.list().size(), 1u);
    EXPECT_EQ(sim.pools.free_cpus(), CpuSet{1});
    EXPECT_EQ(errno_of([&] { sim.pools.destroy(p); }), XEN_ENOENT);
    sim.pools.cpu_add(kPool0, 1);
    EXPECT_EQ(sim.pools.list()[0].cpus, (CpuSet{0, 1}));
}

TEST(CpuPools, Rename) {
    Simulator sim(2);
    sim.pools.cpu_remove(kPool0, 1);
    const PoolId p = sim.pools.create("a", "credit", CpuSet{1});
    sim.pools.rename(p, "b");
    EXPECT_EQ(sim.pools.list()[1].name, "b");
    EXPECT_EQ(errno_of([&] { sim.pools.rename(p, "Pool-0"); }), XEN_EEXIST);
    EXPECT_EQ(errno_of([&] { sim.pools.rename(p, ""); }), XEN_EINVAL);
    EXPECT_EQ(sim.pools.find("a"), std::nullopt);
}

TEST(CpuPools, DomainsRunOnlyOnTheirPoolsCpus) {
    Simulator sim(2);
    sim.pools.cpu_remove(kPool0, 1);
    const PoolId p = sim.pools.create("p", "credit", CpuSet{1});
    SchedUnit& a0 = sim.add(1, 0);
    SchedUnit& a1 = sim.add(1, 1);
    SchedUnit& b0 = sim.add(2, 0, Workload::cpu_bound(), p);
    sim.run_for(seconds(1));
    for (const SchedUnit* u : {&a0, &a1})
        for (const Stretch& s : sim.trace_of(*u)) EXPECT_EQ(s.cpu, 0u) << u->name();
    EXPECT_EQ(sim.cpu_time(b0), seconds(1));  // alone on CPU 1
    EXPECT_NEAR(double(sim.cpu_time(a0)) / double(sim.cpu_time(a1)), 1.0, 0.1);
    EXPECT_EQ(sim.pools.list()[0].nr_domains, 1u);
    EXPECT_EQ(sim.pools.pool_of(2), p);
    // All vCPUs of a domain share one pool; a pool without CPUs takes no domain.
    SchedUnit stray(1, 2, sim.clock.now_ns());
    EXPECT_EQ(errno_of([&] { sim.pools.add_unit(stray, p); }), XEN_EINVAL);
}

TEST(CpuPools, MigratingBetweenCreditAndRtdsKeepsTheDomainRunning) {
    Simulator sim(2);
    sim.pools.cpu_remove(kPool0, 1);
    const PoolId rt = sim.pools.create("rt", "rtds", CpuSet{1});
    SchedUnit& u = sim.add(1, 0);
    sim.add(2, 0);  // a competitor in Pool-0
    sim.run_for(milliseconds(500));
    const Time before = sim.cpu_time(u);
    EXPECT_NEAR(double(before) / double(milliseconds(500)), 0.5, 0.1);

    sim.pools.migrate(1, rt);
    EXPECT_EQ(sim.pools.pool_of(1), rt);
    EXPECT_TRUE(u.runnable());
    EXPECT_EQ(std::get<RtdsParams>(sim.pools.dispatcher(rt).scheduler().unit_params(u)),
              RtdsParams{});  // the new scheduler's defaults
    sim.run_for(milliseconds(500));
    // Alone in the rtds pool with extratime: the whole of CPU 1.
    EXPECT_EQ(sim.cpu_time(u) - before, milliseconds(500));
    for (const Stretch& s : sim.trace_of(u))
        EXPECT_TRUE(s.start < milliseconds(500) || s.cpu == 1u) << "at " << s.start;

    sim.pools.migrate(1, kPool0);  // and back, into credit
    sim.run_for(milliseconds(500));
    EXPECT_NEAR(double(sim.cpu_time(u) - before - milliseconds(500)) / double(milliseconds(500)),
                0.5, 0.1);
    EXPECT_EQ(sim.pools.list()[1].nr_domains, 0u);
}

TEST(CpuPools, MigrationPreservesRunstateAccounting) {
    Simulator sim(2);
    sim.pools.cpu_remove(kPool0, 1);
    const PoolId p = sim.pools.create("p", "credit2", CpuSet{1});
    SchedUnit& u = sim.add(1, 0, Workload::periodic(milliseconds(1), milliseconds(1)));
    sim.run_for(milliseconds(100));
    sim.pools.migrate(1, p);
    sim.run_for(milliseconds(100));
    const Runstate r = u.runstate(sim.clock.now_ns());
    EXPECT_EQ(r.in(RunState::running) + r.in(RunState::runnable) + r.in(RunState::blocked) +
                  r.in(RunState::offline),
              milliseconds(200));
    EXPECT_NEAR(double(r.in(RunState::running)) / double(milliseconds(200)), 0.5, 0.02);
}

TEST(CpuPools, MigrateChecksDomainAndPool) {
    Simulator sim(2);
    sim.pools.cpu_remove(kPool0, 1);
    sim.add(1, 0);
    EXPECT_EQ(errno_of([&] { sim.pools.migrate(9, kPool0); }), XEN_ESRCH);
    EXPECT_EQ(errno_of([&] { sim.pools.migrate(1, 4); }), XEN_ENOENT);
    const PoolId empty = sim.pools.create("empty", "credit", CpuSet{});
    EXPECT_EQ(errno_of([&] { sim.pools.migrate(1, empty); }), XEN_ENODEV);
    EXPECT_EQ(errno_of([&] { sim.pools.migrate(1, kPool0); }), 0);  // already there
}

TEST(CpuPools, RemovingACpuBreaksAnAffinityThatOnlyNamedIt) {
    Simulator sim(2);
    SchedUnit& pinned = sim.add(1, 0, Workload::cpu_bound(), kPool0, CpuSet{1});
    sim.run_for(milliseconds(10));
    EXPECT_EQ(sim.pools.dispatcher(kPool0).current(1), &pinned);
    sim.pools.cpu_remove(kPool0, 1);
    EXPECT_EQ(pinned.hard_affinity(), CpuSet::all());  // as Xen: "breaking affinity"
    sim.run_for(milliseconds(10));
    EXPECT_EQ(sim.pools.dispatcher(kPool0).current(0), &pinned);
}

}  // namespace
}  // namespace xenolith::sched::testing
