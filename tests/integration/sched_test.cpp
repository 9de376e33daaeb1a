// The schedulers deciding for real: spin guests (CPU-bound) booted through hv::Hypervisor,
// measured with the scheduler's own runstate accounting (what VCPUOP_get_runstate_info
// reports), so a loaded host changes the wall clock but not the shares asserted here.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <set>
#include <thread>

#include "harness.hpp"
#include "hv/scheduling.hpp"
#include "sched/params.hpp"

namespace xenolith::integration {
namespace {

struct Sample {
    uint64_t running = 0;
    uint64_t total = 0;  // all four states: the time the vCPU has existed
};

Sample sample(hv::Vcpu& v) {
    vcpu_runstate_info_t info{};
    v.get_runstate(info);
    Sample s;
    s.running = info.time[RUNSTATE_running];
    for (uint64_t t : info.time) s.total += t;
    return s;
}

// The share of a CPU the vCPU had between two samples, in percent.
double share(const Sample& a, const Sample& b) {
    return b.total > a.total ? 100.0 * double(b.running - a.running) / double(b.total - a.total) : 0;
}

class SchedTest : public IntegrationTest {
protected:
    // A spin guest that runs for `seconds` and reports every 50 ms; started and seen running.
    std::unique_ptr<ApiGuest> spin(std::optional<sched::PoolId> pool = std::nullopt,
                                   std::vector<unsigned> pin = {}, int seconds = 8) {
        auto g = std::make_unique<ApiGuest>(hv_, "spin", "seconds=" + std::to_string(seconds) + " report_ms=50");
        if (pool) hv_.scheduling().migrate(g->domain().id(), *pool);
        if (!pin.empty()) g->domain().vcpu(0).set_hard_affinity(pin);
        return g;
    }
    static void started(ApiGuest& g) {
        ASSERT_TRUE(g.console().wait_for("spin: iter=", 5s)) << g.console().text();
    }
    // CPU 1 leaves Pool-0 for a new pool with `scheduler`.
    sched::PoolId cpu1_pool(const char* scheduler) {
        hv_.scheduling().pool_cpu_remove(sched::kPool0, 1);
        return hv_.scheduling().create_pool("p1", scheduler, sched::CpuSet{1});
    }

    hv::Hypervisor hv_;
};

TEST_F(SchedTest, HostHasTheTwoCpusTheseTestsShare) {
    EXPECT_GE(hv_.scheduling().host_cpus().count(), 2u);
    auto pools = hv_.scheduling().pools();
    ASSERT_EQ(pools.size(), 1u);
    EXPECT_EQ(pools[0].sched, "credit");
}

// On one CPU of its own: credit shares a pool's CPU time out by weight across the pool, so
// two domains pinned to one CPU of the two-CPU Pool-0 would each be given more credit than
// that CPU can serve and split it evenly (as in Xen's credit scheduler).
TEST_F(SchedTest, CreditWeights256And512OnOneCpuShareItOneToTwo) {
    const sched::PoolId p1 = cpu1_pool("credit");
    auto light = spin(p1, {1});
    auto heavy = spin(p1, {1});
    hv_.scheduling().set_domain_params(heavy->domain().id(), sched::CreditParams{512, 0});
    light->start();
    heavy->start();
    started(*light);
    started(*heavy);
    std::this_thread::sleep_for(200ms);
    Sample l0 = sample(light->domain().vcpu(0)), h0 = sample(heavy->domain().vcpu(0));
    std::this_thread::sleep_for(1500ms);
    Sample l1 = sample(light->domain().vcpu(0)), h1 = sample(heavy->domain().vcpu(0));
    const double lr = double(l1.running - l0.running), hr = double(h1.running - h0.running);
    ASSERT_GT(lr, 0);
    const double ratio = hr / lr;
    EXPECT_NEAR(ratio, 2.0, 0.2) << "light " << lr / 1e6 << " ms, heavy " << hr / 1e6 << " ms";
    // Together they had the whole CPU (the dispatcher's view).
    EXPECT_GT(share(l0, l1) + share(h0, h1), 95.0);
    EXPECT_EQ(light->domain().vcpu(0).last_cpu(), 1u);
    EXPECT_EQ(heavy->domain().vcpu(0).last_cpu(), 1u);
}

TEST_F(SchedTest, CreditCapOf50PercentHoldsWithAnotherCpuIdle) {
    auto g = spin();
    hv_.scheduling().set_domain_params(g->domain().id(), sched::CreditParams{256, 50});
    g->start();
    started(*g);
    std::this_thread::sleep_for(200ms);
    Sample a = sample(g->domain().vcpu(0));
    std::this_thread::sleep_for(1500ms);
    Sample b = sample(g->domain().vcpu(0));
    EXPECT_NEAR(share(a, b), 50.0, 5.0);
}

TEST_F(SchedTest, RtdsGivesTwoMsEveryTenMsBesideACpuBoundCompetitor) {
    const sched::PoolId rt = cpu1_pool("rtds");
    auto reserved = spin(rt);
    auto hog = spin(rt);
    hv_.scheduling().set_vcpu_params(reserved->domain().id(), 0, sched::RtdsParams{10000, 2000, false});
    reserved->start();
    hog->start();
    started(*reserved);
    started(*hog);
    std::this_thread::sleep_for(200ms);
    Sample r0 = sample(reserved->domain().vcpu(0)), h0 = sample(hog->domain().vcpu(0));
    std::this_thread::sleep_for(1500ms);
    Sample r1 = sample(reserved->domain().vcpu(0)), h1 = sample(hog->domain().vcpu(0));
    EXPECT_NEAR(share(r0, r1), 20.0, 3.0);
    EXPECT_NEAR(share(h0, h1), 80.0, 5.0);  // its 40% and all the extra time
    EXPECT_EQ(reserved->domain().vcpu(0).last_cpu(), 1u);
}

TEST_F(SchedTest, Arinc653DomainsRunOnlyInsideTheirWindows) {
    const sched::PoolId a653 = cpu1_pool("arinc653");
    auto a = spin(a653);
    auto b = spin(a653);
    // A 20 ms major frame: a's 5 ms window, b's 10 ms, then 5 ms that belong to nobody.
    constexpr sched::Time kMs = 1000000;
    sched::Arinc653Schedule plan;
    plan.major_frame = 20 * kMs;
    plan.windows = {{a->domain().id(), 0, 5 * kMs}, {b->domain().id(), 0, 10 * kMs}};
    hv_.scheduling().set_pool_params(a653, plan);
    a->start();
    b->start();
    started(*a);
    started(*b);
    std::this_thread::sleep_for(100ms);
    Sample a0 = sample(a->domain().vcpu(0)), b0 = sample(b->domain().vcpu(0));
    // Strict partitions: over any stretch, a runs at most its 5 ms per 20 ms frame started in
    // it (plus a little for a slice end noticed late), though both are CPU-bound and the
    // frame has idle time.
    Sample prev = a0;
    auto prev_at = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) {
        std::this_thread::sleep_for(20ms);
        Sample now = sample(a->domain().vcpu(0));
        auto at = std::chrono::steady_clock::now();
        double frames = std::ceil(std::chrono::duration<double, std::milli>(at - prev_at).count() / 20.0);
        double ran_ms = double(now.running - prev.running) / 1e6;
        EXPECT_LE(ran_ms, frames * 5.0 + 1.5) << "sample " << i;
        prev = now;
        prev_at = at;
    }
    Sample a1 = sample(a->domain().vcpu(0)), b1 = sample(b->domain().vcpu(0));
    EXPECT_NEAR(share(a0, a1), 25.0, 3.0);
    EXPECT_NEAR(share(b0, b1), 50.0, 4.0);
    EXPECT_EQ(a->domain().vcpu(0).last_cpu(), 1u);
}

TEST_F(SchedTest, ADomainNeverRunsOnAnotherPoolsCpu) {
    const sched::PoolId p1 = cpu1_pool("credit");
    auto there = spin(p1);
    auto here = spin();
    auto also_here = spin();
    there->start();
    here->start();
    also_here->start();
    started(*there);
    started(*here);
    started(*also_here);
    std::set<unsigned> seen_there, seen_here;
    for (auto end = Clock::now() + 500ms; Clock::now() < end;) {
        if (auto c = there->domain().vcpu(0).last_cpu()) seen_there.insert(*c);
        if (auto c = here->domain().vcpu(0).last_cpu()) seen_here.insert(*c);
        if (auto c = also_here->domain().vcpu(0).last_cpu()) seen_here.insert(*c);
        std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(seen_there, (std::set<unsigned>{1}));
    EXPECT_EQ(seen_here, (std::set<unsigned>{0}));
    // The two Pool-0 domains share CPU 0; the pool's other domain has CPU 1 to itself.
    Sample t = sample(there->domain().vcpu(0));
    EXPECT_EQ(hv_.scheduling().pool_of(there->domain().id()), p1);
    EXPECT_GT(t.running, 0u);
}

TEST_F(SchedTest, MigratingBetweenPoolsWithDifferentSchedulersKeepsTheDomainRunning) {
    const sched::PoolId rt = cpu1_pool("rtds");
    auto g = spin();
    g->start();
    started(*g);
    for (sched::PoolId to : {rt, sched::kPool0, rt}) {
        hv_.scheduling().migrate(g->domain().id(), to);
        const size_t before = g->console().lines_received();
        EXPECT_TRUE(g->console().wait_for_more_than(before + 2, 2s)) << "no progress in pool " << to;
        EXPECT_EQ(g->domain().vcpu(0).last_cpu(), to == rt ? 1u : 0u);
        EXPECT_EQ(hv_.scheduling().scheduler_name(*hv_.scheduling().pool_of(g->domain().id())),
                  to == rt ? "rtds" : "credit");
    }
    vcpu_runstate_info_t info{};
    g->domain().vcpu(0).get_runstate(info);
    EXPECT_EQ(info.state, RUNSTATE_running);
}

TEST_F(SchedTest, PausedVcpusAreOfflineAndBlockedOnesCostNoCpu) {
    auto g = spin();
    g->start();
    started(*g);
    g->domain().pause();
    std::this_thread::sleep_for(50ms);
    vcpu_runstate_info_t info{};
    g->domain().vcpu(0).get_runstate(info);
    EXPECT_EQ(info.state, RUNSTATE_offline);
    const size_t lines = g->console().lines_received();
    Sample a = sample(g->domain().vcpu(0));
    std::this_thread::sleep_for(200ms);
    Sample b = sample(g->domain().vcpu(0));
    EXPECT_EQ(a.running, b.running);
    EXPECT_EQ(g->console().lines_received(), lines);
    g->domain().unpause();
    EXPECT_TRUE(g->console().wait_for_more_than(lines + 1, 2s));
    g->domain().vcpu(0).get_runstate(info);
    EXPECT_EQ(info.state, RUNSTATE_running);
}

}  // namespace
}  // namespace xenolith::integration
