// The scheduler interface, in the spirit of Xen's struct scheduler: one instance per CPU
// pool, told about CPUs and units joining and leaving, about units waking, blocking and
// yielding, and asked, per CPU, which unit runs next and for how long.
//
// The protocol with the Dispatcher, which owns the per-CPU "current" slot:
//  - A unit is known to the scheduler between insert_unit and remove_unit. It is runnable
//    (SchedUnit::runnable()) between wake and sleep; the dispatcher updates the runstate
//    before calling either.
//  - To reschedule a CPU the dispatcher calls deschedule(current) (if the CPU was running a
//    unit), then pick_next. deschedule charges the run time and, if the unit is still
//    runnable, puts it back in the scheduler's queues; pick_next may choose it again (no
//    context switch then). A unit is never current on two CPUs: pick_next only returns
//    units that are queued, i.e. not running anywhere.
//  - sleep is only called for a unit that is not running: a running unit that blocks is
//    descheduled instead.
//  - The slice returned by pick_next is when the dispatcher will ask again. Schedulers have no
//    timers of their own: anything time-driven (accounting periods, budget replenishment,
//    frame boundaries) is expressed by shortening slices, including the idle "slice".
//  - When an event makes another CPU's choice stale (a waking unit should pre-empt, a capped
//    unit must be parked), the scheduler calls tickle(cpu); the dispatcher reschedules that
//    CPU before returning to its caller.
// All calls come from one thread at a time (the dispatcher's caller serializes them).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sched/clock.hpp"
#include "sched/cpuset.hpp"
#include "sched/params.hpp"
#include "sched/topology.hpp"
#include "sched/unit.hpp"

namespace xenolith::sched {

struct Decision {
    SchedUnit* unit = nullptr;  // nullptr: the CPU idles
    Time slice = kForever;      // > 0; kForever: until something tickles the CPU
};

class Scheduler {
public:
    virtual ~Scheduler() = default;

    // As xl prints it: "credit", "credit2", "rtds", "arinc653", "null".
    virtual std::string_view name() const = 0;
    // XEN_SCHEDULER_* for XEN_DOMCTL_scheduler_op / XEN_SYSCTL_scheduler_op.
    virtual uint32_t xen_id() const = 0;

    // --- CPUs of the pool -------------------------------------------------------------
    // remove_cpu is called only when nothing runs on the CPU; the scheduler moves what it
    // had queued there to its other CPUs.
    virtual void add_cpu(Cpu cpu, Time now) = 0;
    virtual void remove_cpu(Cpu cpu, Time now) = 0;
    const CpuSet& cpus() const { return cpus_; }

    // --- Units --------------------------------------------------------------------------
    virtual void insert_unit(SchedUnit& unit, Time now) = 0;
    virtual void remove_unit(SchedUnit& unit, Time now) = 0;  // unit is not running
    virtual void wake(SchedUnit& unit, Time now) = 0;
    virtual void sleep(SchedUnit& unit, Time now) = 0;  // unit is not running
    // The running unit asks to give way to others at its CPU's next pick.
    virtual void yield(SchedUnit& unit, Time now) = 0;
    // The unit's hard or soft affinity changed while it was not running.
    virtual void affinity_changed(SchedUnit& unit, Time now) = 0;
    virtual void deschedule(SchedUnit& unit, Cpu cpu, Time now) = 0;
    virtual Decision pick_next(Cpu cpu, Time now) = 0;

    // --- Parameters ---------------------------------------------------------------------
    // Per domain (the domain needs at least one unit in this scheduler; ESRCH otherwise).
    virtual DomainParams domain_params(domid_t domain) const;
    virtual void set_domain_params(domid_t domain, const DomainParams& params);
    // Per vCPU: only rtds has them; the others throw SchedError(EINVAL), as Xen does.
    virtual DomainParams unit_params(const SchedUnit& unit) const;
    virtual void set_unit_params(SchedUnit& unit, const DomainParams& params);
    // Per pool.
    virtual GlobalParams params() const;
    virtual void set_params(const GlobalParams& params, Time now);

    // A human-readable state dump (Xen's 'r' debug key): parameters, queues, per-unit state.
    virtual std::string dump(Time now) const = 0;

    // The dispatcher's hook for tickle(); nothing happens until one is installed.
    void set_tickler(std::function<void(Cpu)> tickler) { tickler_ = std::move(tickler); }

protected:
    void tickle(Cpu cpu) const {
        if (tickler_) tickler_(cpu);
    }
    // The CPUs `unit` may run on in this pool. Never empty while the unit is in a pool with
    // CPUs: the dispatcher resets an affinity that has no CPU left in the pool, as Xen does.
    CpuSet valid_cpus(const SchedUnit& unit) const { return unit.hard_affinity() & cpus_; }
    // Soft affinity counts only where it meets the hard affinity (and the pool).
    CpuSet preferred_cpus(const SchedUnit& unit) const {
        return unit.soft_affinity() & valid_cpus(unit);
    }
    // Errors for parameters that belong to another scheduler, or to a domain not here.
    [[noreturn]] void wrong_params(const char* what) const;
    [[noreturn]] void no_such_domain(domid_t domain) const;

    CpuSet cpus_;  // kept by add_cpu/remove_cpu of each scheduler

private:
    std::function<void(Cpu)> tickler_;
};

// --- Registry -----------------------------------------------------------------------------
// Creates a scheduler by the name xl uses; SchedError(EINVAL) for an unknown name.
std::unique_ptr<Scheduler> make_scheduler(std::string_view name, const Topology& topology = {});
// The registered names, default ("credit") first.
std::vector<std::string_view> scheduler_names();

}  // namespace xenolith::sched
