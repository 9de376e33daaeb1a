// arinc653: strict time partitioning after ARINC 653, as Xen's arinc653 scheduler.
//
// The pool runs one fixed schedule: a major frame, repeated forever, divided into minor
// frames (windows) that each belong to one vCPU. In its window a vCPU runs if it is runnable
// and otherwise the CPU idles: a partition never gets time from another's window, and time
// after the last window is idle. A vCPU runs only on its home CPU (the first CPU of the pool
// its hard affinity allows, or where it already is); the pool's other CPUs idle, as in Xen,
// whose arinc653 drives one schedule per pool.
//
// A new schedule takes effect at once: the first major frame starts when it is set. Until a
// schedule is set nothing runs (Xen's default gives only Domain-0 a window, and Xenolith's
// Domain-0 is the host).
#include <algorithm>
#include <numeric>
#include <sstream>
#include <vector>

#include "sched/error.hpp"
#include "sched/schedulers.hpp"
#include "sched/xen_sched_abi.hpp"

namespace xenolith::sched {

namespace {

class Arinc653Scheduler final : public Scheduler {
public:
    std::string_view name() const override { return "arinc653"; }
    uint32_t xen_id() const override { return XEN_SCHEDULER_ARINC653; }

    void add_cpu(Cpu cpu, Time) override;
    void remove_cpu(Cpu cpu, Time) override;
    void insert_unit(SchedUnit& unit, Time) override;
    void remove_unit(SchedUnit& unit, Time) override;
    void wake(SchedUnit& unit, Time) override { tickle(home(unit)); }
    void sleep(SchedUnit&, Time) override {}
    void yield(SchedUnit&, Time) override {}
    void affinity_changed(SchedUnit& unit, Time) override;
    void deschedule(SchedUnit&, Cpu, Time) override {}
    Decision pick_next(Cpu cpu, Time now) override;

    GlobalParams params() const override { return schedule_; }
    void set_params(const GlobalParams& params, Time now) override;
    std::string dump(Time now) const override;

private:
    Cpu home(const SchedUnit& unit) const;
    SchedUnit* find(domid_t domain, uint32_t vcpu) const;
    void tickle_all() {
        for (Cpu cpu : cpus_) tickle(cpu);
    }

    Arinc653Schedule schedule_{milliseconds(10), {}};
    Time epoch_ = 0;  // the start of some major frame
    std::vector<SchedUnit*> units_;
};

Cpu Arinc653Scheduler::home(const SchedUnit& unit) const {
    const CpuSet valid = valid_cpus(unit);
    return valid.contains(unit.processor()) ? unit.processor() : *valid.first();
}

SchedUnit* Arinc653Scheduler::find(domid_t domain, uint32_t vcpu) const {
    for (SchedUnit* u : units_)
        if (u->domain() == domain && u->vcpu() == vcpu) return u;
    return nullptr;
}

void Arinc653Scheduler::add_cpu(Cpu cpu, Time) {
    cpus_.add(cpu);
    tickle_all();
}

void Arinc653Scheduler::remove_cpu(Cpu cpu, Time) {
    cpus_.remove(cpu);
    for (SchedUnit* u : units_) u->set_processor(home(*u));
    tickle_all();
}

void Arinc653Scheduler::insert_unit(SchedUnit& unit, Time) {
    unit.set_processor(home(unit));
    units_.push_back(&unit);
}

void Arinc653Scheduler::remove_unit(SchedUnit& unit, Time) {
    units_.erase(std::find(units_.begin(), units_.end(), &unit));
}

void Arinc653Scheduler::affinity_changed(SchedUnit& unit, Time) {
    unit.set_processor(home(unit));
    tickle_all();
}

Decision Arinc653Scheduler::pick_next(Cpu cpu, Time now) {
    if (schedule_.windows.empty()) return Decision{nullptr, kForever};
    const Time frame = schedule_.major_frame;
    const Time frame_start = now - (now - epoch_) % frame;
    Time window_start = frame_start;
    for (const Arinc653Window& w : schedule_.windows) {
        const Time window_end = window_start + w.runtime;
        if (now < window_end) {
            SchedUnit* u = find(w.domain, w.vcpu);
            const bool runs = u && u->runnable() && home(*u) == cpu;
            return Decision{runs ? u : nullptr, window_end - now};
        }
        window_start = window_end;
    }
    return Decision{nullptr, frame_start + frame - now};  // idle to the end of the frame
}

void Arinc653Scheduler::set_params(const GlobalParams& params, Time now) {
    const auto* s = std::get_if<Arinc653Schedule>(&params);
    if (!s) wrong_params("pool");
    if (s->major_frame <= 0)
        throw SchedError("arinc653 major frame must be positive", XEN_EINVAL);
    if (s->windows.empty() || s->windows.size() > ARINC653_MAX_DOMAINS_PER_SCHEDULE)
        throw SchedError("arinc653 schedule needs 1.." +
                             std::to_string(ARINC653_MAX_DOMAINS_PER_SCHEDULE) +
                             " minor frames, not " + std::to_string(s->windows.size()),
                         XEN_EINVAL);
    Time total = 0;
    for (const Arinc653Window& w : s->windows) {
        if (w.runtime <= 0)
            throw SchedError("arinc653 minor frame of d" + std::to_string(w.domain) + "v" +
                                 std::to_string(w.vcpu) + " must have a positive runtime",
                             XEN_EINVAL);
        total += w.runtime;
    }
    if (total > s->major_frame)
        throw SchedError("arinc653 minor frames add up to " + std::to_string(total / 1000) +
                             " us, more than the major frame of " +
                             std::to_string(s->major_frame / 1000) + " us",
                         XEN_EINVAL);
    schedule_ = *s;
    epoch_ = now;
}

std::string Arinc653Scheduler::dump(Time now) const {
    std::ostringstream out;
    out << "Scheduler: arinc653\n  major frame " << schedule_.major_frame / 1000 << " us";
    if (!schedule_.windows.empty())
        out << ", now +" << (now - epoch_) % schedule_.major_frame / 1000 << " us into it";
    out << '\n';
    for (const Arinc653Window& w : schedule_.windows)
        out << "  d" << w.domain << "v" << w.vcpu << " for " << w.runtime / 1000 << " us"
            << (find(w.domain, w.vcpu) ? "" : " (not in this pool)") << '\n';
    return out.str();
}

}  // namespace

std::unique_ptr<Scheduler> make_arinc653_scheduler(const Topology&) {
    return std::make_unique<Arinc653Scheduler>();
}

}  // namespace xenolith::sched
