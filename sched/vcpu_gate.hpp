// The RunnableHost for real vCPU threads: it turns the dispatcher's decisions into "this
// thread may run on this host CPU now".
//
// A vCPU thread calls enter() before KVM_RUN. It sleeps on a condition variable (never
// spins) until the dispatcher has given its unit a CPU *and* that CPU's previous occupant
// has left, so at most one vCPU thread is ever on a host CPU; enter() returns the CPU, to
// which the thread pins itself. The thread then runs and handles exits for as long as
// holds_cpu() says so; when it is pre-empted the gate calls `kick` (Vcpu::kick: immediate
// exit or a signal) so that KVM_RUN returns, and the thread calls leave() (or enter() again,
// which leaves first). A thread that blocks calls leave() before it sleeps.
//
// dispatch() and preempt() are called by the dispatcher under the caller's pool lock; the
// thread side takes only the gate's own lock, so the order is always pools, then gate.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>

#include "sched/dispatcher.hpp"

namespace xenolith::sched {

class VcpuGate final : public RunnableHost {
public:
    using Kick = std::function<void(SchedUnit&)>;
    explicit VcpuGate(Kick kick) : kick_(std::move(kick)) {}

    // --- RunnableHost (dispatcher side) --------------------------------------------------
    void dispatch(SchedUnit& unit, Cpu cpu) override;
    void preempt(SchedUnit& unit) override;

    // --- vCPU thread side ----------------------------------------------------------------
    // Blocks until `unit` may run; returns its CPU, or nullopt once cancel() was called.
    std::optional<Cpu> enter(SchedUnit& unit);
    // The thread is off its CPU (pre-empted, or about to block).
    void leave(SchedUnit& unit);
    // True while the thread holds the CPU enter() gave it. The thread reads it after each
    // exit; the reference stays valid until forget(), so reading it takes no lock.
    const std::atomic<bool>& holds_cpu(const SchedUnit& unit);
    // Makes enter() return nullopt for this unit from now on (domain teardown).
    void cancel(SchedUnit& unit);
    // Drops the unit's state; its thread must be gone.
    void forget(const SchedUnit& unit);

private:
    struct Seat {
        std::optional<Cpu> granted;     // what the dispatcher decided
        std::optional<Cpu> occupying;   // where the thread actually is
        bool cancelled = false;
        std::atomic<bool> holds{false};  // granted == occupying
        std::condition_variable cv;
    };

    Seat& seat(const SchedUnit& unit) { return seats_[&unit]; }
    void vacate(Seat& s);
    void notify_granted(Cpu cpu);

    Kick kick_;
    std::mutex mutex_;
    std::map<const SchedUnit*, Seat> seats_;
    std::map<Cpu, const SchedUnit*> occupant_;    // the thread on each CPU
    std::map<Cpu, const SchedUnit*> granted_to_;  // the unit the dispatcher chose there
};

}  // namespace xenolith::sched
