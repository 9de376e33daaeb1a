#include "sched/dispatcher.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "abi/xen.hpp"
#include "sched/error.hpp"

namespace xenolith::sched {

Dispatcher::Dispatcher(const Clock& clock, std::unique_ptr<Scheduler> scheduler,
                       RunnableHost& host)
    : clock_(clock), scheduler_(std::move(scheduler)), host_(host) {
    scheduler_->set_tickler([this](Cpu cpu) {
        auto it = slots_.find(cpu);
        if (it != slots_.end()) it->second.resched = true;
    });
}

Dispatcher::Slot& Dispatcher::slot(Cpu cpu) {
    auto it = slots_.find(cpu);
    if (it == slots_.end())
        throw SchedError("CPU " + std::to_string(cpu) + " is not in this pool", XEN_EINVAL);
    return it->second;
}

bool Dispatcher::contains(const SchedUnit& unit) const {
    return std::find(units_.begin(), units_.end(), &unit) != units_.end();
}

void Dispatcher::require_member(const SchedUnit& unit, const char* what) const {
    if (!contains(unit))
        throw SchedError("cannot " + std::string(what) + " " + unit.name() +
                             ": it is not in this pool",
                         XEN_EINVAL);
}

SchedUnit* Dispatcher::current(Cpu cpu) const {
    auto it = slots_.find(cpu);
    return it == slots_.end() ? nullptr : it->second.current;
}

std::optional<Cpu> Dispatcher::running_on(const SchedUnit& unit) const {
    if (unit.state() != RunState::running) return std::nullopt;
    auto it = slots_.find(unit.processor());
    if (it == slots_.end() || it->second.current != &unit) return std::nullopt;
    return unit.processor();
}

Time Dispatcher::next_deadline() const {
    Time t = kForever;
    for (const auto& [cpu, s] : slots_) t = std::min(t, s.deadline);
    return t;
}

// --- Pool membership ----------------------------------------------------------------------

void Dispatcher::add_cpu(Cpu cpu) {
    if (slots_.count(cpu))
        throw SchedError("CPU " + std::to_string(cpu) + " is already in this pool", XEN_EBUSY);
    slots_[cpu] = Slot{nullptr, kForever, true};
    scheduler_->add_cpu(cpu, clock_.now_ns());
    settle();
}

void Dispatcher::remove_cpu(Cpu cpu) {
    Slot& s = slot(cpu);
    const CpuSet remaining = cpus() - CpuSet{cpu};
    if (remaining.empty() && !units_.empty())
        throw SchedError("the last CPU of a pool cannot go while vCPUs are in it", XEN_EBUSY);
    const Time now = clock_.now_ns();
    if (s.current) take_off_cpu(*s.current, now);
    slots_.erase(cpu);
    // Before the scheduler re-places what it queued on `cpu`, so that every unit has
    // somewhere left to go.
    for (SchedUnit* u : units_) fix_affinity(*u, remaining);
    scheduler_->remove_cpu(cpu, now);
    settle();
}

void Dispatcher::fix_affinity(SchedUnit& unit, const CpuSet& pool_cpus) {
    if (!unit.hard_affinity().intersects(pool_cpus))
        unit.set_affinity(CpuSet::all(), unit.soft_affinity());
}

void Dispatcher::add_unit(SchedUnit& unit) {
    if (contains(unit))
        throw SchedError(unit.name() + " is already in this pool", XEN_EEXIST);
    if (cpus().empty())
        throw SchedError("a pool without CPUs cannot take " + unit.name(), XEN_ENODEV);
    const Time now = clock_.now_ns();
    fix_affinity(unit, cpus());
    if (unit.state() == RunState::running) unit.set_state(RunState::runnable, now);
    units_.push_back(&unit);
    scheduler_->insert_unit(unit, now);
    if (unit.runnable()) scheduler_->wake(unit, now);
    settle();
}

void Dispatcher::remove_unit(SchedUnit& unit) {
    require_member(unit, "remove");
    const Time now = clock_.now_ns();
    take_off_cpu(unit, now);
    scheduler_->remove_unit(unit, now);
    units_.erase(std::find(units_.begin(), units_.end(), &unit));
    settle();
}

void Dispatcher::take_off_cpu(SchedUnit& unit, Time now) {
    auto cpu = running_on(unit);
    if (!cpu) return;
    Slot& s = slot(*cpu);
    s.current = nullptr;
    s.resched = true;
    scheduler_->deschedule(unit, *cpu, now);
    if (unit.runnable()) {
        unit.set_state(RunState::runnable, now);
        host_.preempt(unit);
    }
}

// --- Unit events --------------------------------------------------------------------------

void Dispatcher::wake(SchedUnit& unit) {
    require_member(unit, "wake");
    if (unit.runnable()) return;
    const Time now = clock_.now_ns();
    unit.set_state(RunState::runnable, now);
    scheduler_->wake(unit, now);
    settle();
}

void Dispatcher::block(SchedUnit& unit) { make_unrunnable(unit, RunState::blocked); }

void Dispatcher::offline(SchedUnit& unit) { make_unrunnable(unit, RunState::offline); }

void Dispatcher::make_unrunnable(SchedUnit& unit, RunState state) {
    require_member(unit, state == RunState::blocked ? "block" : "take offline");
    const Time now = clock_.now_ns();
    if (!unit.runnable()) {
        if (unit.state() != state) unit.set_state(state, now);
        return;
    }
    auto cpu = running_on(unit);
    unit.set_state(state, now);
    if (cpu)
        slot(*cpu).resched = true;  // deschedule() will see it is no longer runnable
    else
        scheduler_->sleep(unit, now);
    settle();
}

void Dispatcher::yield(SchedUnit& unit) {
    require_member(unit, "yield");
    auto cpu = running_on(unit);
    if (!cpu) return;
    scheduler_->yield(unit, clock_.now_ns());
    slot(*cpu).resched = true;
    settle();
}

void Dispatcher::set_affinity(SchedUnit& unit, CpuSet hard, CpuSet soft) {
    require_member(unit, "pin");
    if (!hard.intersects(cpus()))
        throw SchedError("hard affinity " + hard.to_string() + " of " + unit.name() +
                             " has no CPU of its pool (" + cpus().to_string() + ")",
                         XEN_EINVAL);
    unit.set_affinity(hard, soft);
    if (auto cpu = running_on(unit))
        slot(*cpu).resched = true;  // deschedule() requeues it where it may run
    else
        scheduler_->affinity_changed(unit, clock_.now_ns());
    settle();
}

// --- Parameters ---------------------------------------------------------------------------

void Dispatcher::set_domain_params(domid_t domain, const DomainParams& params) {
    scheduler_->set_domain_params(domain, params);
    resched_all();
    settle();
}

void Dispatcher::set_unit_params(SchedUnit& unit, const DomainParams& params) {
    require_member(unit, "set parameters of");
    scheduler_->set_unit_params(unit, params);
    resched_all();
    settle();
}

void Dispatcher::set_params(const GlobalParams& params) {
    scheduler_->set_params(params, clock_.now_ns());
    resched_all();
    settle();
}

void Dispatcher::resched_all() {
    for (auto& [cpu, s] : slots_) s.resched = true;
}

// --- Time and decisions -------------------------------------------------------------------

void Dispatcher::run_timers() { settle(); }

void Dispatcher::settle() {
    const Time now = clock_.now_ns();
    // A scheduler that keeps tickling itself would loop forever; that is a bug to report,
    // not to hang on.
    const std::size_t limit = 1000 + 100 * (slots_.size() + units_.size());
    for (std::size_t n = 0;; ++n) {
        auto due = std::find_if(slots_.begin(), slots_.end(), [now](const auto& e) {
            return e.second.resched || e.second.deadline <= now;
        });
        if (due == slots_.end()) return;
        if (n > limit)
            throw std::logic_error(std::string(scheduler_->name()) +
                                   " scheduler keeps asking CPUs to reschedule");
        reschedule(due->first, now);
    }
}

void Dispatcher::reschedule(Cpu cpu, Time now) {
    Slot& s = slot(cpu);
    s.resched = false;
    SchedUnit* prev = s.current;
    if (prev) scheduler_->deschedule(*prev, cpu, now);
    const Decision d = scheduler_->pick_next(cpu, now);

    // The scheduler's promises, checked on every decision: a scheduler bug must not put a
    // vCPU on a CPU its hard affinity excludes, or on two CPUs at once.
    auto broken = [&](const std::string& why) {
        throw std::logic_error(std::string(scheduler_->name()) + " scheduler on CPU " +
                               std::to_string(cpu) + ": " + why);
    };
    if (d.slice <= 0) broken("non-positive slice");
    if (d.unit) {
        if (!contains(*d.unit)) broken("picked " + d.unit->name() + ", not in this pool");
        if (!d.unit->runnable()) broken("picked " + d.unit->name() + ", not runnable");
        if (d.unit != prev && d.unit->state() == RunState::running)
            broken("picked " + d.unit->name() + ", already running elsewhere");
        if (!d.unit->hard_affinity().contains(cpu))
            broken("picked " + d.unit->name() + " against its hard affinity");
    }

    if (d.unit != prev) {
        s.current = d.unit;
        if (prev && prev->runnable()) {
            prev->set_state(RunState::runnable, now);
            host_.preempt(*prev);
        }
        if (d.unit) {
            d.unit->set_state(RunState::running, now);
            d.unit->set_processor(cpu);
            host_.dispatch(*d.unit, cpu);
        }
    }
    s.deadline = d.slice >= kForever - now ? kForever : now + d.slice;
}

std::string Dispatcher::dump() const {
    const Time now = clock_.now_ns();
    std::ostringstream out;
    out << scheduler_->dump(now);
    for (const auto& [cpu, s] : slots_) {
        out << "CPU " << cpu << ": " << (s.current ? s.current->name() : std::string("idle"));
        if (s.deadline != kForever) out << " until +" << (s.deadline - now) / 1000 << "us";
        out << '\n';
    }
    return out.str();
}

}  // namespace xenolith::sched
