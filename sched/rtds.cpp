// rtds: Xen's real-time deferrable-server scheduler, global EDF over the pool.
//
// Each vCPU has a budget and a period. At the start of every period its budget is
// replenished and its deadline moves to the period's end; while it runs the budget burns,
// while it blocks the budget is kept (a deferrable server); what is left at the deadline is
// lost. Among vCPUs with budget, the earliest deadline runs first, on any CPU of the pool
// its hard affinity allows. A vCPU that spends its budget waits for the next period, unless
// it has extratime: then it gets another budget at a lower priority level (level 0 is the
// reserved time, each refill in the same period one level lower), so reserved time always
// comes first and spare CPU time is shared by deadline among the extratime vCPUs.
//
// There are no timers: every slice ends at the runner's budget exhaustion or at the next
// replenishment of any runnable vCPU, whichever is first, and idle CPUs wake at that
// replenishment too.
#include <algorithm>
#include <map>
#include <sstream>
#include <vector>

#include "sched/error.hpp"
#include "sched/schedulers.hpp"
#include "sched/xen_sched_abi.hpp"

namespace xenolith::sched {

namespace {

// Xen's bounds for period and budget.
constexpr Time kMinPeriod = microseconds(10);
constexpr Time kMinBudget = microseconds(10);

struct RtUnit final : UnitPrivate {
    SchedUnit* unit = nullptr;
    Time period = microseconds(RtdsParams{}.period_us);
    Time budget = microseconds(RtdsParams{}.budget_us);
    bool extratime = RtdsParams{}.extratime;
    Time cur_budget = 0;
    Time deadline = 0;
    unsigned level = 0;  // 0: reserved time; n: the n-th extra budget of this period
    bool queued = false;
    bool depleted = false;  // runnable but waiting for its next period
    bool running = false;
    Time charged_until = 0;
};

// Priority order: lower level, then earlier deadline.
bool before(const RtUnit& a, const RtUnit& b) {
    if (a.level != b.level) return a.level < b.level;
    return a.deadline < b.deadline;
}

class RtdsScheduler final : public Scheduler {
public:
    std::string_view name() const override { return "rtds"; }
    uint32_t xen_id() const override { return XEN_SCHEDULER_RTDS; }

    void add_cpu(Cpu cpu, Time) override;
    void remove_cpu(Cpu cpu, Time) override;
    void insert_unit(SchedUnit& unit, Time now) override;
    void remove_unit(SchedUnit& unit, Time now) override;
    void wake(SchedUnit& unit, Time now) override;
    void sleep(SchedUnit& unit, Time now) override;
    void yield(SchedUnit&, Time) override {}
    void affinity_changed(SchedUnit& unit, Time now) override;
    void deschedule(SchedUnit& unit, Cpu cpu, Time now) override;
    Decision pick_next(Cpu cpu, Time now) override;

    DomainParams domain_params(domid_t domain) const override;
    void set_domain_params(domid_t domain, const DomainParams& params) override;
    DomainParams unit_params(const SchedUnit& unit) const override;
    void set_unit_params(SchedUnit& unit, const DomainParams& params) override;
    std::string dump(Time now) const override;

private:
    static RtUnit& rt(const SchedUnit& u) { return u.priv<RtUnit>(); }
    void validate(const RtdsParams& p) const;
    void start_period_if_due(RtUnit& u, Time now);
    void burn(RtUnit& u, Time now);
    void replenish(Time now);
    Time next_replenishment() const;
    void queue(RtUnit& u);
    void unqueue(RtUnit& u);
    void tickle_for(const RtUnit& u);

    std::vector<RtUnit*> units_;
    std::vector<RtUnit*> runq_;  // runnable with budget, not running, in priority order
    std::map<Cpu, RtUnit*> curr_;
    std::map<Cpu, Time> slice_end_;  // when each CPU will pick again
};

void RtdsScheduler::validate(const RtdsParams& p) const {
    const Time period = microseconds(p.period_us), budget = microseconds(p.budget_us);
    if (period < kMinPeriod || budget < kMinBudget || budget > period)
        throw SchedError("rtds period " + std::to_string(p.period_us) + " us / budget " +
                             std::to_string(p.budget_us) +
                             " us is invalid: both must be at least 10 us and the budget "
                             "no more than the period",
                         XEN_EINVAL);
}

void RtdsScheduler::start_period_if_due(RtUnit& u, Time now) {
    if (now < u.deadline) return;
    const Time missed = (now - u.deadline) / u.period + 1;
    u.deadline += missed * u.period;
    u.cur_budget = u.budget;
    u.level = 0;
    u.depleted = false;
}

void RtdsScheduler::burn(RtUnit& u, Time now) {
    const Time ran = now - u.charged_until;
    if (ran <= 0) return;
    u.charged_until = now;
    u.cur_budget -= ran;
    if (u.cur_budget > 0) return;
    if (u.extratime) {
        ++u.level;
        u.cur_budget = u.budget;
    } else {
        u.cur_budget = 0;
        u.depleted = true;
    }
}

void RtdsScheduler::queue(RtUnit& u) {
    if (u.depleted) return;  // it waits for its next period, off the runqueue
    auto pos =
        std::find_if(runq_.begin(), runq_.end(), [&](const RtUnit* o) { return before(u, *o); });
    runq_.insert(pos, &u);
    u.queued = true;
}

void RtdsScheduler::unqueue(RtUnit& u) {
    if (!u.queued) return;
    runq_.erase(std::find(runq_.begin(), runq_.end(), &u));
    u.queued = false;
}

// Start new periods that are due for every runnable unit; the queued ones move to their new
// place. Running units are re-placed at deschedule (their slice ends here anyway).
void RtdsScheduler::replenish(Time now) {
    for (RtUnit* u : units_) {
        if (!u->unit->runnable() || now < u->deadline) continue;
        if (u->running) {
            burn(*u, now);
            start_period_if_due(*u, now);
            continue;
        }
        unqueue(*u);
        start_period_if_due(*u, now);
        queue(*u);
    }
}

Time RtdsScheduler::next_replenishment() const {
    Time t = kForever;
    for (const RtUnit* u : units_)
        if (u->unit->runnable()) t = std::min(t, u->deadline);
    return t;
}

// An idle CPU the unit may use takes it; otherwise the CPU running the lowest-priority unit
// is pre-empted if the newcomer beats it.
void RtdsScheduler::tickle_for(const RtUnit& u) {
    const CpuSet valid = valid_cpus(*u.unit);
    const CpuSet preferred = preferred_cpus(*u.unit);
    for (const CpuSet* set : {&preferred, &valid})
        for (Cpu cpu : *set)
            if (!curr_.at(cpu)) return tickle(cpu);
    const RtUnit* weakest = nullptr;
    for (Cpu cpu : valid) {
        const RtUnit* cur = curr_.at(cpu);
        if (!weakest || before(*weakest, *cur)) weakest = cur;
    }
    if (weakest && before(u, *weakest)) tickle(weakest->unit->processor());
}

// --- CPUs -----------------------------------------------------------------------------------

void RtdsScheduler::add_cpu(Cpu cpu, Time) {
    cpus_.add(cpu);
    curr_[cpu] = nullptr;
    slice_end_[cpu] = kForever;
}

void RtdsScheduler::remove_cpu(Cpu cpu, Time) {
    cpus_.remove(cpu);
    curr_.erase(cpu);
    slice_end_.erase(cpu);
    // One global queue: nothing was queued on this CPU in particular.
    for (const RtUnit* u : runq_) tickle_for(*u);
}

// --- Units ----------------------------------------------------------------------------------

void RtdsScheduler::insert_unit(SchedUnit& unit, Time now) {
    auto u = std::make_unique<RtUnit>();
    u->unit = &unit;
    u->deadline = now;  // its first period starts when it first wakes
    u->charged_until = now;
    if (!valid_cpus(unit).contains(unit.processor())) unit.set_processor(*valid_cpus(unit).first());
    units_.push_back(u.get());
    unit.set_priv(std::move(u));
}

void RtdsScheduler::remove_unit(SchedUnit& unit, Time) {
    RtUnit& u = rt(unit);
    unqueue(u);
    units_.erase(std::find(units_.begin(), units_.end(), &u));
    unit.set_priv(nullptr);
}

void RtdsScheduler::wake(SchedUnit& unit, Time now) {
    RtUnit& u = rt(unit);
    if (u.queued || u.running) return;
    start_period_if_due(u, now);
    queue(u);
    if (u.queued) tickle_for(u);
    // Its next replenishment may come before any CPU it may use looks at the queues again
    // (their slices were cut while it slept): those CPUs recompute their slices.
    for (Cpu cpu : valid_cpus(unit))
        if (slice_end_.at(cpu) > u.deadline) tickle(cpu);
}

void RtdsScheduler::sleep(SchedUnit& unit, Time) { unqueue(rt(unit)); }

void RtdsScheduler::affinity_changed(SchedUnit& unit, Time) {
    const RtUnit& u = rt(unit);
    if (u.queued) tickle_for(u);
}

void RtdsScheduler::deschedule(SchedUnit& unit, Cpu cpu, Time now) {
    RtUnit& u = rt(unit);
    burn(u, now);
    start_period_if_due(u, now);
    u.running = false;
    curr_.at(cpu) = nullptr;
    if (unit.runnable()) queue(u);
}

Decision RtdsScheduler::pick_next(Cpu cpu, Time now) {
    replenish(now);
    RtUnit* next = nullptr;
    for (RtUnit* u : runq_) {
        if (u->unit->hard_affinity().contains(cpu)) {
            next = u;
            break;
        }
    }
    const Time repl = next_replenishment();
    if (!next) {
        slice_end_.at(cpu) = repl;
        return Decision{nullptr, repl == kForever ? kForever : repl - now};
    }
    unqueue(*next);
    next->running = true;
    next->charged_until = now;
    next->unit->set_processor(cpu);
    curr_.at(cpu) = next;
    const Time slice = std::min(next->cur_budget, repl - now);
    slice_end_.at(cpu) = now + slice;
    return Decision{next->unit, slice};
}

// --- Parameters -----------------------------------------------------------------------------

// As Xen's XEN_DOMCTL_SCHEDOP_getinfo: the defaults (per-vCPU values are in unit_params).
DomainParams RtdsScheduler::domain_params(domid_t domain) const {
    for (const RtUnit* u : units_)
        if (u->unit->domain() == domain) return RtdsParams{};
    no_such_domain(domain);
}

// As Xen's XEN_DOMCTL_SCHEDOP_putinfo: period and budget for every vCPU of the domain;
// extratime is per vCPU only.
void RtdsScheduler::set_domain_params(domid_t domain, const DomainParams& params) {
    const auto* p = std::get_if<RtdsParams>(&params);
    if (!p) wrong_params("per-domain");
    validate(*p);
    bool found = false;
    for (RtUnit* u : units_) {
        if (u->unit->domain() != domain) continue;
        u->period = microseconds(p->period_us);
        u->budget = microseconds(p->budget_us);
        found = true;
    }
    if (!found) no_such_domain(domain);
}

DomainParams RtdsScheduler::unit_params(const SchedUnit& unit) const {
    const RtUnit& u = rt(unit);
    return RtdsParams{static_cast<uint32_t>(u.period / 1000),
                      static_cast<uint32_t>(u.budget / 1000), u.extratime};
}

void RtdsScheduler::set_unit_params(SchedUnit& unit, const DomainParams& params) {
    const auto* p = std::get_if<RtdsParams>(&params);
    if (!p) wrong_params("per-vCPU");
    validate(*p);
    RtUnit& u = rt(unit);
    u.period = microseconds(p->period_us);
    u.budget = microseconds(p->budget_us);
    if (p->extratime && !u.extratime && u.depleted) {
        // As if it had had extratime when its budget ran out: a lower-level refill now.
        u.depleted = false;
        ++u.level;
        u.cur_budget = u.budget;
        if (unit.runnable() && !u.running) queue(u);
    }
    u.extratime = p->extratime;
}

std::string RtdsScheduler::dump(Time now) const {
    std::ostringstream out;
    out << "Scheduler: rtds\n";
    for (const RtUnit* u : units_)
        out << "  " << u->unit->name() << " period " << u->period / 1000 << " us budget "
            << u->budget / 1000 << " us" << (u->extratime ? " extratime" : "") << ", left "
            << u->cur_budget / 1000 << " us, deadline +" << (u->deadline - now) / 1000
            << " us, level " << u->level << (u->running ? " running" : "")
            << (u->queued ? " queued" : "") << (u->depleted ? " depleted" : "") << '\n';
    out << "  runq:";
    for (const RtUnit* u : runq_) out << ' ' << u->unit->name();
    out << '\n';
    return out.str();
}

}  // namespace

std::unique_ptr<Scheduler> make_rtds_scheduler(const Topology&) {
    return std::make_unique<RtdsScheduler>();
}

}  // namespace xenolith::sched
