// The per-host-CPU dispatcher of one CPU pool: it owns the pool's scheduler and, for each of
// the pool's CPUs, the "current" slot and the end of the current slice. It is the only place
// that decides which unit runs where, and it enforces that decision through a RunnableHost:
// a unit's thread may enter KVM_RUN only after dispatch(unit, cpu), and is told to leave it
// (preempt) when its slice ends or a waking unit takes its CPU.
//
// The dispatcher is single-threaded logic: its caller serializes calls (the hv layer holds
// one lock around the CPU pools) and calls run_timers() when next_deadline() is reached.
// Tests drive it on a SimClock; the hv layer drives it on the MonotonicClock.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "sched/clock.hpp"
#include "sched/cpuset.hpp"
#include "sched/scheduler.hpp"
#include "sched/unit.hpp"

namespace xenolith::sched {

// What the dispatcher drives: vCPU threads in xenolithd, a simulation in tests. Both calls
// are made with the caller's lock held and must not block.
class RunnableHost {
public:
    virtual ~RunnableHost() = default;
    // `unit` may now run on host CPU `cpu`: wake its thread (which pins itself to `cpu`).
    virtual void dispatch(SchedUnit& unit, Cpu cpu) = 0;
    // `unit` lost its CPU while still runnable: its thread must leave KVM_RUN promptly
    // (Vcpu::kick: immediate_exit or a signal) and wait for its next dispatch.
    virtual void preempt(SchedUnit& unit) = 0;
};

class Dispatcher {
public:
    Dispatcher(const Clock& clock, std::unique_ptr<Scheduler> scheduler, RunnableHost& host);
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    Scheduler& scheduler() { return *scheduler_; }
    const Scheduler& scheduler() const { return *scheduler_; }
    const CpuSet& cpus() const { return scheduler_->cpus(); }
    const Clock& clock() const { return clock_; }

    // --- Pool membership ----------------------------------------------------------------
    void add_cpu(Cpu cpu);
    // Pre-empts what runs there; units whose hard affinity has no other CPU in the pool get
    // their hard affinity reset to all CPUs (Xen "breaks" it the same way).
    void remove_cpu(Cpu cpu);
    // Joins in its current runstate (runnable units are woken here); leaves as runnable if
    // it was running. A unit whose hard affinity misses every CPU of the pool gets it reset.
    void add_unit(SchedUnit& unit);
    void remove_unit(SchedUnit& unit);
    bool contains(const SchedUnit& unit) const;
    const std::vector<SchedUnit*>& units() const { return units_; }

    // --- Unit events (the unit must be in this pool) -------------------------------------
    void wake(SchedUnit& unit);     // blocked/offline -> runnable; no-op if runnable
    void block(SchedUnit& unit);    // -> blocked (SCHEDOP_block, poll)
    void offline(SchedUnit& unit);  // -> offline (VCPUOP_down, domain paused)
    void yield(SchedUnit& unit);    // SCHEDOP_yield from the running unit
    void set_affinity(SchedUnit& unit, CpuSet hard, CpuSet soft);

    // --- Parameters: applied, then every CPU reschedules ---------------------------------
    void set_domain_params(domid_t domain, const DomainParams& params);
    void set_unit_params(SchedUnit& unit, const DomainParams& params);
    void set_params(const GlobalParams& params);

    // --- Time ---------------------------------------------------------------------------
    // Reschedules every CPU whose slice has ended by now.
    void run_timers();
    // The earliest slice end over the pool's CPUs; kForever if none.
    Time next_deadline() const;

    // --- State --------------------------------------------------------------------------
    SchedUnit* current(Cpu cpu) const;
    std::optional<Cpu> running_on(const SchedUnit& unit) const;
    std::string dump() const;

private:
    struct Slot {
        SchedUnit* current = nullptr;
        Time deadline = kForever;
        bool resched = false;
    };

    Slot& slot(Cpu cpu);
    void require_member(const SchedUnit& unit, const char* what) const;
    void make_unrunnable(SchedUnit& unit, RunState state);
    // Takes the unit off its CPU (if it runs) without rescheduling the CPU yet.
    void take_off_cpu(SchedUnit& unit, Time now);
    void fix_affinity(SchedUnit& unit, const CpuSet& pool_cpus);
    void resched_all();
    void settle();
    void reschedule(Cpu cpu, Time now);

    const Clock& clock_;
    std::unique_ptr<Scheduler> scheduler_;
    RunnableHost& host_;
    std::map<Cpu, Slot> slots_;
    std::vector<SchedUnit*> units_;
};

}  // namespace xenolith::sched
