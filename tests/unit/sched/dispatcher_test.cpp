// The dispatcher: what it tells the host (dispatch, pre-empt), runstate accounting, and the
// checks it makes on every scheduler decision.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "abi/xen.hpp"
#include "sched/dispatcher.hpp"
#include "tests/unit/sched/errno_of.hpp"

namespace xenolith::sched::testing {
namespace {

// Records the host calls as "dispatch d1v0 0" / "preempt d1v0".
class RecordingHost : public RunnableHost {
public:
    void dispatch(SchedUnit& unit, Cpu cpu) override {
        log.push_back("dispatch " + unit.name() + " " + std::to_string(cpu));
    }
    void preempt(SchedUnit& unit) override { log.push_back("preempt " + unit.name()); }
    std::vector<std::string> take() { return std::exchange(log, {}); }
    std::vector<std::string> log;
};

using Log = std::vector<std::string>;

class DispatcherTest : public ::testing::Test {
protected:
    SimClock clock;
    RecordingHost host;
    Dispatcher d{clock, make_scheduler("credit"), host};
    SchedUnit a{1, 0, 0};
    SchedUnit b{2, 0, 0};
};

TEST_F(DispatcherTest, WakeDispatchesAndBlockFreesTheCpu) {
    d.add_cpu(0);
    d.add_unit(a);
    EXPECT_TRUE(host.take().empty());  // offline until woken
    EXPECT_EQ(a.state(), RunState::offline);
    d.wake(a);
    EXPECT_EQ(host.take(), (Log{"dispatch d1v0 0"}));
    EXPECT_EQ(a.state(), RunState::running);
    EXPECT_EQ(d.current(0), &a);
    EXPECT_EQ(d.running_on(a), 0u);
    clock.advance(milliseconds(1));
    d.block(a);
    EXPECT_TRUE(host.take().empty());  // a blocking thread is already out of KVM_RUN
    EXPECT_EQ(d.current(0), nullptr);
    EXPECT_EQ(a.state(), RunState::blocked);
}

TEST_F(DispatcherTest, SliceEndPreemptsTheRunnerForAWaitingUnit) {
    d.add_cpu(0);
    d.add_unit(a);
    d.add_unit(b);
    d.wake(a);
    d.wake(b);
    EXPECT_EQ(host.take(), (Log{"dispatch d1v0 0"}));
    EXPECT_EQ(b.state(), RunState::runnable);
    const Time end = d.next_deadline();
    ASSERT_NE(end, kForever);
    clock.set(end);
    d.run_timers();
    EXPECT_EQ(host.take(), (Log{"preempt d1v0", "dispatch d2v0 0"}));
    EXPECT_EQ(a.state(), RunState::runnable);
    EXPECT_EQ(b.state(), RunState::running);
}

TEST_F(DispatcherTest, RunstateTimesAddUpAndConvertToXens) {
    d.add_cpu(0);
    d.add_unit(a);
    clock.advance(milliseconds(2));  // offline
    d.wake(a);
    clock.advance(milliseconds(3));  // running
    d.block(a);
    clock.advance(milliseconds(4));  // blocked
    const Runstate r = a.runstate(clock.now_ns());
    EXPECT_EQ(r.state, RunState::blocked);
    EXPECT_EQ(r.in(RunState::offline), milliseconds(2));
    EXPECT_EQ(r.in(RunState::running), milliseconds(3));
    EXPECT_EQ(r.in(RunState::blocked), milliseconds(4));
    EXPECT_EQ(r.in(RunState::runnable), 0);
    const vcpu_runstate_info_t x = r.to_xen();
    EXPECT_EQ(x.state, RUNSTATE_blocked);
    EXPECT_EQ(x.state_entry_time, uint64_t(milliseconds(5)));
    EXPECT_EQ(x.time[RUNSTATE_running], uint64_t(milliseconds(3)));
    EXPECT_EQ(x.time[RUNSTATE_blocked], uint64_t(milliseconds(4)));
}

TEST_F(DispatcherTest, OfflineAndRemoveWhileRunning) {
    d.add_cpu(0);
    d.add_unit(a);
    d.add_unit(b);
    d.wake(a);
    d.wake(b);
    host.take();
    d.remove_unit(a);  // running: pre-empted, leaves as runnable, b takes the CPU
    EXPECT_EQ(host.take(), (Log{"preempt d1v0", "dispatch d2v0 0"}));
    EXPECT_EQ(a.state(), RunState::runnable);
    EXPECT_FALSE(a.has_priv());
    d.offline(b);
    EXPECT_EQ(b.state(), RunState::offline);
    EXPECT_EQ(d.current(0), nullptr);
    EXPECT_EQ(errno_of([&] { d.wake(a); }), XEN_EINVAL);  // not in the pool any more
}

TEST_F(DispatcherTest, RepinningARunningUnitMovesIt) {
    d.add_cpu(0);
    d.add_cpu(1);
    d.add_unit(a);
    d.wake(a);
    ASSERT_EQ(d.running_on(a), 0u);
    host.take();
    d.set_affinity(a, CpuSet{1}, CpuSet::all());
    EXPECT_EQ(host.take(), (Log{"preempt d1v0", "dispatch d1v0 1"}));
    EXPECT_EQ(d.running_on(a), 1u);
    EXPECT_EQ(errno_of([&] { d.set_affinity(a, CpuSet{5}, CpuSet::all()); }), XEN_EINVAL);
}

TEST_F(DispatcherTest, AUnitJoiningWithAnAffinityOutsideThePoolGetsItReset) {
    d.add_cpu(0);
    SchedUnit pinned(3, 0, 0, CpuSet{4});
    d.add_unit(pinned);
    EXPECT_EQ(pinned.hard_affinity(), CpuSet::all());
}

TEST_F(DispatcherTest, APoolWithoutCpusTakesNoUnit) {
    EXPECT_EQ(errno_of([&] { d.add_unit(a); }), XEN_ENODEV);
    d.add_cpu(0);
    d.add_unit(a);
    EXPECT_EQ(errno_of([&] { d.add_unit(a); }), XEN_EEXIST);
    EXPECT_EQ(errno_of([&] { d.remove_cpu(0); }), XEN_EBUSY);
    EXPECT_EQ(errno_of([&] { d.add_cpu(0); }), XEN_EBUSY);
}

// A scheduler that returns whatever the test says, to check the dispatcher's guards.
class RiggedScheduler final : public Scheduler {
public:
    std::string_view name() const override { return "rigged"; }
    uint32_t xen_id() const override { return 0; }
    void add_cpu(Cpu cpu, Time) override { cpus_.add(cpu); }
    void remove_cpu(Cpu cpu, Time) override { cpus_.remove(cpu); }
    void insert_unit(SchedUnit&, Time) override {}
    void remove_unit(SchedUnit&, Time) override {}
    void wake(SchedUnit&, Time) override {
        for (Cpu cpu : cpus_) tickle(cpu);
    }
    void sleep(SchedUnit&, Time) override {}
    void yield(SchedUnit&, Time) override {}
    void affinity_changed(SchedUnit&, Time) override {}
    void deschedule(SchedUnit&, Cpu, Time) override {}
    Decision pick_next(Cpu, Time) override { return answer; }
    std::string dump(Time) const override { return ""; }
    Decision answer;
};

TEST(DispatcherGuards, APickAgainstHardAffinityOrOnTwoCpusIsRefused) {
    SimClock clock;
    RecordingHost host;
    auto rigged = std::make_unique<RiggedScheduler>();
    RiggedScheduler& s = *rigged;
    Dispatcher d(clock, std::move(rigged), host);
    d.add_cpu(0);
    d.add_cpu(1);
    SchedUnit pinned(1, 0, 0, CpuSet{1});
    d.add_unit(pinned);
    s.answer = Decision{&pinned, milliseconds(1)};
    EXPECT_THROW(d.wake(pinned), std::logic_error);  // CPU 0 may not run it

    SchedUnit free(2, 0, 0);
    RecordingHost host2;
    auto rigged2 = std::make_unique<RiggedScheduler>();
    RiggedScheduler& s2 = *rigged2;
    Dispatcher d2(clock, std::move(rigged2), host2);
    d2.add_cpu(0);
    d2.add_cpu(1);
    d2.add_unit(free);
    s2.answer = Decision{&free, milliseconds(1)};
    EXPECT_THROW(d2.wake(free), std::logic_error);  // both CPUs would run it
}

}  // namespace
}  // namespace xenolith::sched::testing
