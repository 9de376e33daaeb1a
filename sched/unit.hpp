// A schedulable unit: one vCPU as the schedulers see it (Xen's struct sched_unit with
// granularity 1). The owner (the hv layer's Vcpu, or a test) keeps it alive while it is in a
// pool; pools, dispatchers and schedulers refer to it, they never own it.
//
// Runstate accounting lives here because every scheduler shares it: the dispatcher moves the
// unit between running, runnable, blocked and offline and the unit adds up the time spent in
// each, which is what VCPUOP_get_runstate_info and `xn vcpu-list` report.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "abi/xen.hpp"
#include "sched/clock.hpp"
#include "sched/cpuset.hpp"

namespace xenolith::sched {

enum class RunState : int {
    running = RUNSTATE_running,
    runnable = RUNSTATE_runnable,
    blocked = RUNSTATE_blocked,
    offline = RUNSTATE_offline,
};
const char* to_string(RunState s);

// Mirrors vcpu_runstate_info_t: the current state, when it began, and the total time spent
// in each state (indexed by RUNSTATE_*), including the current one up to the query time.
struct Runstate {
    RunState state = RunState::offline;
    Time state_entry_time = 0;
    std::array<Time, 4> time{};

    Time in(RunState s) const { return time[static_cast<int>(s)]; }
    vcpu_runstate_info_t to_xen() const;
};

// Base of each scheduler's per-unit data (Xen's unit->priv). A scheduler stores its own
// derived type at insert_unit and drops it at remove_unit.
struct UnitPrivate {
    virtual ~UnitPrivate() = default;
};

class SchedUnit {
public:
    // A new vCPU is offline until it is woken, as in Xen. Affinities default to any CPU.
    SchedUnit(domid_t domain, uint32_t vcpu, Time now, CpuSet hard = CpuSet::all(),
              CpuSet soft = CpuSet::all());
    SchedUnit(const SchedUnit&) = delete;
    SchedUnit& operator=(const SchedUnit&) = delete;

    domid_t domain() const { return domain_; }
    uint32_t vcpu() const { return vcpu_; }
    std::string name() const;  // "d1v0", as Xen prints a vCPU

    // Hard affinity: the CPUs the unit may run on. Soft: the ones it prefers (only
    // meaningful where it meets the hard affinity). Changed through Dispatcher::set_affinity
    // once the unit is in a pool.
    const CpuSet& hard_affinity() const { return hard_; }
    const CpuSet& soft_affinity() const { return soft_; }

    RunState state() const { return runstate_.state; }
    // Wants a CPU: running or waiting for one.
    bool runnable() const { return state() == RunState::running || state() == RunState::runnable; }
    Runstate runstate(Time now) const;
    Time time_in(RunState s, Time now) const { return runstate(now).in(s); }

    // The CPU the unit runs on, is queued for, or last ran on (Xen's unit->res). Schedulers
    // keep it up to date; it starts at the first CPU of the hard affinity.
    Cpu processor() const { return processor_; }
    void set_processor(Cpu cpu) { processor_ = cpu; }

    // The current scheduler's private data. `priv<T>()` is unchecked: only the scheduler that
    // installed a T asks for one.
    template <class T>
    T& priv() const {
        return static_cast<T&>(*priv_);
    }
    bool has_priv() const { return priv_ != nullptr; }
    void set_priv(std::unique_ptr<UnitPrivate> p) { priv_ = std::move(p); }

private:
    friend class Dispatcher;
    void set_state(RunState s, Time now);
    void set_affinity(CpuSet hard, CpuSet soft);

    domid_t domain_;
    uint32_t vcpu_;
    CpuSet hard_;
    CpuSet soft_;
    Runstate runstate_;
    Cpu processor_ = 0;
    std::unique_ptr<UnitPrivate> priv_;
};

}  // namespace xenolith::sched
