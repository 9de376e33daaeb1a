// null: static one-to-one placement, as Xen's null scheduler. Each vCPU gets a CPU of its
// own when it joins the pool (one in its soft affinity if possible) and keeps it: it runs
// there whenever it is runnable, with no time slice, and the CPU idles while it blocks.
// vCPUs that find no free CPU wait, in arrival order, until one is freed (a vCPU leaves, a
// CPU joins); they do not run meanwhile.
#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <sstream>

#include "sched/schedulers.hpp"
#include "sched/xen_sched_abi.hpp"

namespace xenolith::sched {

namespace {

class NullScheduler final : public Scheduler {
public:
    std::string_view name() const override { return "null"; }
    uint32_t xen_id() const override { return XEN_SCHEDULER_NULL; }

    void add_cpu(Cpu cpu, Time) override;
    void remove_cpu(Cpu cpu, Time) override;
    void insert_unit(SchedUnit& unit, Time) override;
    void remove_unit(SchedUnit& unit, Time) override;
    void wake(SchedUnit& unit, Time) override;
    void sleep(SchedUnit&, Time) override {}
    void yield(SchedUnit&, Time) override {}
    void affinity_changed(SchedUnit& unit, Time) override;
    void deschedule(SchedUnit&, Cpu, Time) override {}
    Decision pick_next(Cpu cpu, Time) override;
    std::string dump(Time now) const override;

private:
    std::optional<Cpu> assigned_cpu(const SchedUnit& unit) const;
    bool try_assign(SchedUnit& unit);
    void unassign(Cpu cpu);
    void fill(Cpu cpu);

    std::map<Cpu, SchedUnit*> assigned_;  // every CPU of the pool; nullptr when free
    std::deque<SchedUnit*> waitq_;
};

std::optional<Cpu> NullScheduler::assigned_cpu(const SchedUnit& unit) const {
    for (const auto& [cpu, u] : assigned_)
        if (u == &unit) return cpu;
    return std::nullopt;
}

// A free CPU it prefers (its current one first), else any free CPU it may use.
bool NullScheduler::try_assign(SchedUnit& unit) {
    const CpuSet preferred = preferred_cpus(unit);
    const CpuSet valid = valid_cpus(unit);
    for (const CpuSet* set : {&preferred, &valid}) {
        std::optional<Cpu> pick;
        if (set->contains(unit.processor()) && !assigned_.at(unit.processor()))
            pick = unit.processor();
        for (Cpu cpu : *set)
            if (!pick && !assigned_.at(cpu)) pick = cpu;
        if (pick) {
            assigned_[*pick] = &unit;
            unit.set_processor(*pick);
            tickle(*pick);
            return true;
        }
    }
    return false;
}

void NullScheduler::unassign(Cpu cpu) {
    assigned_.at(cpu) = nullptr;
    tickle(cpu);
}

// The first waiting unit that may run on the freed CPU gets it.
void NullScheduler::fill(Cpu cpu) {
    for (auto it = waitq_.begin(); it != waitq_.end(); ++it) {
        if (!valid_cpus(**it).contains(cpu)) continue;
        SchedUnit* u = *it;
        waitq_.erase(it);
        assigned_.at(cpu) = u;
        u->set_processor(cpu);
        tickle(cpu);
        return;
    }
}

void NullScheduler::add_cpu(Cpu cpu, Time) {
    cpus_.add(cpu);
    assigned_[cpu] = nullptr;
    fill(cpu);
}

void NullScheduler::remove_cpu(Cpu cpu, Time) {
    SchedUnit* u = assigned_.at(cpu);
    assigned_.erase(cpu);
    cpus_.remove(cpu);
    if (u && !try_assign(*u)) waitq_.push_front(u);  // it was placed before the others
}

void NullScheduler::insert_unit(SchedUnit& unit, Time) {
    if (!try_assign(unit)) waitq_.push_back(&unit);
}

void NullScheduler::remove_unit(SchedUnit& unit, Time) {
    if (auto cpu = assigned_cpu(unit)) {
        unassign(*cpu);
        fill(*cpu);
    } else {
        waitq_.erase(std::find(waitq_.begin(), waitq_.end(), &unit));
    }
}

void NullScheduler::wake(SchedUnit& unit, Time) {
    if (auto cpu = assigned_cpu(unit)) tickle(*cpu);
}

void NullScheduler::affinity_changed(SchedUnit& unit, Time) {
    auto cpu = assigned_cpu(unit);
    if (cpu && valid_cpus(unit).contains(*cpu)) return;
    if (cpu) {
        unassign(*cpu);
        if (!try_assign(unit)) waitq_.push_front(&unit);
        fill(*cpu);
    } else if (try_assign(unit)) {
        waitq_.erase(std::find(waitq_.begin(), waitq_.end(), &unit));
    }
}

Decision NullScheduler::pick_next(Cpu cpu, Time) {
    SchedUnit* u = assigned_.at(cpu);
    return Decision{u && u->runnable() ? u : nullptr, kForever};
}

std::string NullScheduler::dump(Time) const {
    std::ostringstream out;
    out << "Scheduler: null\n";
    for (const auto& [cpu, u] : assigned_)
        out << "  CPU " << cpu << ": " << (u ? u->name() : std::string("free")) << '\n';
    out << "  waiting:";
    for (const SchedUnit* u : waitq_) out << ' ' << u->name();
    out << '\n';
    return out.str();
}

}  // namespace

std::unique_ptr<Scheduler> make_null_scheduler(const Topology&) {
    return std::make_unique<NullScheduler>();
}

}  // namespace xenolith::sched
