// The vCPU gate with real threads: a thread enters only when its unit holds a CPU that its
// previous occupant has left, a pre-empted thread is kicked, and waiting threads can be
// released for teardown. The dispatcher runs on a SimClock, driven by the test.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "sched/dispatcher.hpp"
#include "sched/vcpu_gate.hpp"

namespace xenolith::sched::testing {
namespace {

using namespace std::chrono_literals;

TEST(VcpuGate, APreemptedThreadIsKickedAndLeavesBeforeTheNextEnters) {
    SimClock clock;
    std::atomic<int> kicks{0};
    VcpuGate gate([&](SchedUnit&) { ++kicks; });
    Dispatcher d(clock, make_scheduler("credit"), gate);
    d.add_cpu(0);
    SchedUnit a(1, 0, 0), b(2, 0, 0);
    d.add_unit(a);
    d.add_unit(b);
    d.wake(a);
    d.wake(b);

    std::promise<Cpu> a_entered;
    std::promise<void> a_may_leave;
    std::atomic<bool> b_entered{false};
    std::thread ta([&] {
        a_entered.set_value(gate.enter(a).value());
        a_may_leave.get_future().wait();
        gate.leave(a);
    });
    std::thread tb([&] {
        EXPECT_EQ(gate.enter(b), 0u);
        b_entered = true;
        gate.leave(b);
    });
    EXPECT_EQ(a_entered.get_future().get(), 0u);
    EXPECT_TRUE(gate.holds_cpu(a));

    clock.set(d.next_deadline());
    d.run_timers();  // b's turn: a is pre-empted
    EXPECT_EQ(d.current(0), &b);
    EXPECT_EQ(kicks.load(), 1);
    EXPECT_FALSE(gate.holds_cpu(a));
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(b_entered.load()) << "b entered while a was still on CPU 0";

    a_may_leave.set_value();
    ta.join();
    tb.join();
    EXPECT_TRUE(b_entered.load());
}

TEST(VcpuGate, AUnitThatBlockedWaitsForANewDispatch) {
    SimClock clock;
    VcpuGate gate(nullptr);
    Dispatcher d(clock, make_scheduler("credit"), gate);
    d.add_cpu(0);
    SchedUnit a(1, 0, 0), b(2, 0, 0);
    d.add_unit(a);
    d.add_unit(b);
    d.wake(a);
    EXPECT_EQ(gate.enter(a), 0u);
    gate.leave(a);  // SCHEDOP_block: off the CPU first,
    d.block(a);     // then blocked; b was waiting for the CPU
    d.wake(b);
    EXPECT_EQ(gate.enter(b), 0u);
    gate.leave(b);  // b handles an exit off the CPU: CPU 0 has no thread on it
    // a's old grant went with b's dispatch: a's thread waits although CPU 0 is empty.
    auto again = std::async(std::launch::async, [&] { return gate.enter(a); });
    EXPECT_EQ(again.wait_for(20ms), std::future_status::timeout);
    gate.cancel(a);
    EXPECT_EQ(again.get(), std::nullopt);
}

TEST(VcpuGate, CancelReleasesAWaitingThread) {
    VcpuGate gate(nullptr);
    SchedUnit a(1, 0, 0);
    auto waiter = std::async(std::launch::async, [&] { return gate.enter(a); });
    EXPECT_EQ(waiter.wait_for(20ms), std::future_status::timeout);  // never dispatched
    gate.cancel(a);
    EXPECT_EQ(waiter.get(), std::nullopt);
    gate.forget(a);
}

// Three vCPU threads on two CPUs for a few hundred slices: never two threads on one CPU,
// and everyone gets in.
TEST(VcpuGate, NeverTwoThreadsOnOneCpu) {
    SimClock clock;
    std::mutex pools_lock;  // what the hv layer holds around the pools
    VcpuGate gate(nullptr);  // the "guest" below notices pre-emption by polling
    Dispatcher d(clock, make_scheduler("credit"), gate);
    d.add_cpu(0);
    d.add_cpu(1);
    std::array<SchedUnit, 3> units{SchedUnit(1, 0, 0), SchedUnit(2, 0, 0), SchedUnit(3, 0, 0)};
    std::array<std::atomic<int>, 2> on_cpu{};
    std::array<std::atomic<int>, 3> entries{};
    std::atomic<bool> overlap{false};
    std::atomic<bool> stop{false};
    {
        std::lock_guard lock(pools_lock);
        for (SchedUnit& u : units) {
            d.add_unit(u);
            d.wake(u);
        }
    }
    std::vector<std::thread> threads;
    for (size_t i = 0; i < units.size(); ++i) {
        threads.emplace_back([&, i] {
            const std::atomic<bool>& holds = gate.holds_cpu(units[i]);
            while (auto cpu = gate.enter(units[i])) {
                if (on_cpu[*cpu].fetch_add(1) != 0) overlap = true;
                ++entries[i];
                // "KVM_RUN" until pre-empted.
                while (holds.load() && !stop.load()) std::this_thread::yield();
                on_cpu[*cpu].fetch_sub(1);
                gate.leave(units[i]);
            }
        });
    }
    for (int step = 0; step < 300; ++step) {
        {
            std::lock_guard lock(pools_lock);
            clock.set(d.next_deadline());
            d.run_timers();
        }
        std::this_thread::sleep_for(100us);
    }
    stop = true;
    for (SchedUnit& u : units) gate.cancel(u);
    for (std::thread& t : threads) t.join();
    EXPECT_FALSE(overlap.load());
    for (size_t i = 0; i < units.size(); ++i) EXPECT_GT(entries[i].load(), 0) << i;
}

}  // namespace
}  // namespace xenolith::sched::testing
