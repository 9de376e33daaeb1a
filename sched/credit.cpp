// credit: Xen's default, proportional-share scheduler.
//
// Every accounting period (one time slice, 30 ms by default) the pool's CPU time for the
// period is shared out as credit among the domains that have been running, in proportion to
// weight (times active vCPUs), never more than a domain can use (one slice per vCPU) or its
// cap allows; what a domain cannot use goes to the others. Running burns credit one to one
// with time. A vCPU with credit left is UNDER, one in debt is OVER; UNDER runs before OVER.
// A vCPU that wakes while UNDER is BOOSTed above both, so that I/O-bound vCPUs get the CPU
// quickly; the boost ends after one tick (a third of a slice) of running.
//
// Each CPU has its own runqueue ordered by priority, first come first served within one.
// A CPU with nothing UNDER or BOOSTed to run steals better work from its peers' queues,
// preferring vCPUs whose soft affinity includes it. A capped domain whose debt exceeds its
// cap's share is parked (off every queue) until an accounting period brings it back to
// positive credit: that is what holds a 50% cap even with idle CPUs around.
#include <algorithm>
#include <list>
#include <map>
#include <sstream>
#include <vector>

#include "sched/error.hpp"
#include "sched/schedulers.hpp"
#include "sched/xen_sched_abi.hpp"

namespace xenolith::sched {

namespace {

// Higher runs first; the values are Xen's.
enum class Pri : int { over = -2, under = -1, boost = 0 };

const char* to_string(Pri p) {
    switch (p) {
        case Pri::over: return "OVER";
        case Pri::under: return "UNDER";
        case Pri::boost: return "BOOST";
    }
    return "?";
}

struct CreditDomain;

struct CreditUnit final : UnitPrivate {
    SchedUnit* unit = nullptr;
    CreditDomain* dom = nullptr;
    Time credit = 0;  // ns of CPU this unit may still use before it is in debt
    Pri pri = Pri::under;
    bool active = false;  // earns credit at accounting; set when it runs
    bool parked = false;  // its domain is over its cap: off every queue
    bool queued = false;  // on the runqueue of unit->processor()
    bool running = false;
    bool yielding = false;
    Time boost_left = 0;
    Time charged_until = 0;  // while running: credit burnt up to here
    Time last_ran = 0;       // when it last left a CPU: the migration delay counts from here
};

struct CreditDomain {
    CreditParams params;
    std::vector<CreditUnit*> units;
};

struct CreditCpu {
    std::list<CreditUnit*> runq;  // by priority, FIFO within one
    CreditUnit* curr = nullptr;
    // The unit descheduled here last and when its stretch on this CPU began (for the
    // ratelimit: a unit keeps the CPU for at least ratelimit_us once it has it).
    CreditUnit* last = nullptr;
    Time last_start = 0;
    Time last_end = -1;
};

class CreditScheduler final : public Scheduler {
public:
    std::string_view name() const override { return "credit"; }
    uint32_t xen_id() const override { return XEN_SCHEDULER_CREDIT; }

    void add_cpu(Cpu cpu, Time now) override;
    void remove_cpu(Cpu cpu, Time now) override;
    void insert_unit(SchedUnit& unit, Time now) override;
    void remove_unit(SchedUnit& unit, Time now) override;
    void wake(SchedUnit& unit, Time now) override;
    void sleep(SchedUnit& unit, Time now) override;
    void yield(SchedUnit& unit, Time now) override;
    void affinity_changed(SchedUnit& unit, Time now) override;
    void deschedule(SchedUnit& unit, Cpu cpu, Time now) override;
    Decision pick_next(Cpu cpu, Time now) override;

    DomainParams domain_params(domid_t domain) const override;
    void set_domain_params(domid_t domain, const DomainParams& params) override;
    GlobalParams params() const override { return g_; }
    void set_params(const GlobalParams& params, Time now) override;
    std::string dump(Time now) const override;

private:
    Time tslice() const { return milliseconds(g_.tslice_ms); }
    // Xen samples the running vCPU three times a slice ("ticks"); a boost lasts one.
    Time tick() const { return g_.tslice_ms < 3 ? tslice() : tslice() / 3; }

    static CreditUnit& cu(const SchedUnit& u) { return u.priv<CreditUnit>(); }
    bool idle(Cpu cpu) const;
    Cpu choose_cpu(const CreditUnit& c) const;
    void enqueue(CreditUnit& c, Cpu cpu);
    void dequeue(CreditUnit& c);
    void tickle_for(const CreditUnit& c, Cpu cpu);
    void burn(CreditUnit& c, Time now);
    void account(Time now);
    void distribute();
    void park(CreditUnit& c);
    void unpark(CreditUnit& c);
    CreditUnit* steal(Cpu cpu, const CreditUnit* local, Time now);

    CreditGlobals g_;
    std::map<Cpu, CreditCpu> pcpu_;
    std::map<domid_t, CreditDomain> doms_;
    Time next_acct_ = kForever;  // set when the first CPU joins
};

bool CreditScheduler::idle(Cpu cpu) const {
    const CreditCpu& p = pcpu_.at(cpu);
    return !p.curr && p.runq.empty();
}

// Where a waking unit should queue: an idle CPU it prefers, then any idle CPU it may use,
// then where it last ran (its cache is there).
Cpu CreditScheduler::choose_cpu(const CreditUnit& c) const {
    const CpuSet valid = valid_cpus(*c.unit);
    const CpuSet preferred = preferred_cpus(*c.unit);
    const Cpu last = c.unit->processor();
    for (const CpuSet* set : {&preferred, &valid}) {
        if (set->contains(last) && idle(last)) return last;
        for (Cpu cpu : *set)
            if (idle(cpu)) return cpu;
    }
    if (valid.contains(last)) return last;
    return preferred.empty() ? *valid.first() : *preferred.first();
}

void CreditScheduler::enqueue(CreditUnit& c, Cpu cpu) {
    auto& q = pcpu_.at(cpu).runq;
    auto pos =
        std::find_if(q.begin(), q.end(), [&](const CreditUnit* o) { return o->pri < c.pri; });
    q.insert(pos, &c);
    c.queued = true;
    c.unit->set_processor(cpu);
}

void CreditScheduler::dequeue(CreditUnit& c) {
    if (!c.queued) return;
    pcpu_.at(c.unit->processor()).runq.remove(&c);
    c.queued = false;
}

// After queueing `c` on `cpu`: pre-empt there if it beats what runs, else get an idle CPU
// it may use to come and steal it.
void CreditScheduler::tickle_for(const CreditUnit& c, Cpu cpu) {
    const CreditCpu& p = pcpu_.at(cpu);
    if (!p.curr || c.pri > p.curr->pri) {
        tickle(cpu);
        return;
    }
    for (Cpu other : valid_cpus(*c.unit)) {
        if (!pcpu_.at(other).curr) {
            tickle(other);
            return;
        }
    }
}

void CreditScheduler::burn(CreditUnit& c, Time now) {
    const Time ran = now - c.charged_until;
    if (ran <= 0) return;
    c.charged_until = now;
    c.credit -= ran;
    c.active = true;  // it competes for CPU again: it earns at the next accounting
    if (c.pri == Pri::boost) {
        c.boost_left -= ran;
        if (c.boost_left <= 0) c.pri = Pri::under;
    }
}

void CreditScheduler::account(Time now) {
    if (now < next_acct_) return;
    for (auto& [cpu, p] : pcpu_)
        if (p.curr) burn(*p.curr, now);
    distribute();
    // The next boundary after now, keeping the phase (periods missed while idle are gone).
    next_acct_ += ((now - next_acct_) / tslice() + 1) * tslice();
    for (auto& [cpu, p] : pcpu_)
        p.runq.sort([](const CreditUnit* a, const CreditUnit* b) { return a->pri > b->pri; });
}

void CreditScheduler::distribute() {
    struct Share {
        CreditDomain* dom;
        unsigned active;
        Time peak;
        Time grant = 0;
        bool settled = false;
    };
    std::vector<Share> shares;
    for (auto& [id, d] : doms_) {
        unsigned n = 0;
        for (const CreditUnit* c : d.units) n += c->active;
        if (!n) continue;
        Time peak = n * tslice();
        if (d.params.cap) peak = std::min(peak, d.params.cap * tslice() / 100);
        shares.push_back(Share{&d, n, peak});
    }
    if (shares.empty()) return;

    // Weighted fair shares of this period's CPU time; a domain that cannot use its share
    // (all its vCPUs' worth, or its cap) is settled at that and the rest is shared again.
    Time left = static_cast<Time>(pcpu_.size()) * tslice();
    for (bool again = true; again;) {
        again = false;
        __int128 total_weight = 0;
        for (const Share& s : shares)
            if (!s.settled) total_weight += __int128{s.dom->params.weight} * s.active;
        if (total_weight == 0) break;
        for (Share& s : shares) {
            if (s.settled) continue;
            s.grant = static_cast<Time>(__int128{left} * s.dom->params.weight * s.active /
                                        total_weight);
            if (s.grant >= s.peak) {
                s.grant = s.peak;
                s.settled = true;
                left -= s.peak;
                again = true;
            }
        }
    }

    for (const Share& s : shares) {
        const Time per_unit = s.grant / s.active;
        const Time cap_per_unit = s.dom->params.cap * tslice() / 100 / s.active;
        for (CreditUnit* c : s.dom->units) {
            if (!c->active) continue;
            c->credit += per_unit;
            if (c->credit < 0) {
                c->pri = Pri::over;
                if (s.dom->params.cap && c->credit < -cap_per_unit) park(*c);
                c->credit = std::max(c->credit, -tslice());
            } else {
                c->pri = Pri::under;
                if (c->parked) unpark(*c);
                // A unit that does not use what it earns stops earning; it keeps half so
                // that it starts a little ahead when it becomes busy again.
                if (c->credit > tslice()) {
                    c->active = false;
                    c->credit /= 2;
                }
            }
        }
    }
}

void CreditScheduler::park(CreditUnit& c) {
    if (c.parked) return;
    c.parked = true;
    dequeue(c);
    if (c.running) tickle(c.unit->processor());
}

void CreditScheduler::unpark(CreditUnit& c) {
    c.parked = false;
    if (c.unit->runnable() && !c.running && !c.queued) {
        const Cpu cpu = choose_cpu(c);
        enqueue(c, cpu);
        tickle_for(c, cpu);
    }
}

// Work from other CPUs' queues with a better priority than `local` (anything, if local is
// null), that may run here and is not cache-hot where it is. Soft affinity first.
CreditUnit* CreditScheduler::steal(Cpu cpu, const CreditUnit* local, Time now) {
    const Time migr_delay = microseconds(g_.vcpu_migr_delay_us);
    for (bool soft : {true, false}) {
        CreditUnit* best = nullptr;
        for (auto& [peer, p] : pcpu_) {
            if (peer == cpu) continue;
            for (CreditUnit* c : p.runq) {
                if (local && c->pri <= local->pri) break;  // queues are sorted
                if (best && c->pri <= best->pri) break;
                if (!c->unit->hard_affinity().contains(cpu)) continue;
                if (soft && !preferred_cpus(*c->unit).contains(cpu)) continue;
                if (migr_delay && now - c->last_ran < migr_delay) continue;
                best = c;
                break;
            }
        }
        if (best) return best;
    }
    return nullptr;
}

// --- CPUs -----------------------------------------------------------------------------------

void CreditScheduler::add_cpu(Cpu cpu, Time now) {
    cpus_.add(cpu);
    pcpu_[cpu];
    if (next_acct_ == kForever) next_acct_ = now + tslice();
}

void CreditScheduler::remove_cpu(Cpu cpu, Time) {
    std::list<CreditUnit*> orphans = std::move(pcpu_.at(cpu).runq);
    pcpu_.erase(cpu);
    cpus_.remove(cpu);
    for (CreditUnit* c : orphans) {
        c->queued = false;
        const Cpu to = choose_cpu(*c);
        enqueue(*c, to);
        tickle_for(*c, to);
    }
}

// --- Units ----------------------------------------------------------------------------------

void CreditScheduler::insert_unit(SchedUnit& unit, Time now) {
    auto c = std::make_unique<CreditUnit>();
    c->unit = &unit;
    c->dom = &doms_[unit.domain()];
    c->dom->units.push_back(c.get());
    c->charged_until = now;
    c->last_ran = now;
    if (!valid_cpus(unit).contains(unit.processor())) unit.set_processor(*valid_cpus(unit).first());
    unit.set_priv(std::move(c));
}

void CreditScheduler::remove_unit(SchedUnit& unit, Time) {
    CreditUnit& c = cu(unit);
    dequeue(c);
    for (auto& [cpu, p] : pcpu_)
        if (p.last == &c) p.last = nullptr;
    auto& units = c.dom->units;
    units.erase(std::find(units.begin(), units.end(), &c));
    if (units.empty()) doms_.erase(unit.domain());
    unit.set_priv(nullptr);
}

void CreditScheduler::wake(SchedUnit& unit, Time now) {
    account(now);
    CreditUnit& c = cu(unit);
    if (c.parked || c.queued || c.running) return;  // a parked unit waits for its credit
    if (c.pri == Pri::under) {
        c.pri = Pri::boost;
        c.boost_left = tick();
    }
    const Cpu cpu = choose_cpu(c);
    enqueue(c, cpu);
    tickle_for(c, cpu);
}

void CreditScheduler::sleep(SchedUnit& unit, Time) { dequeue(cu(unit)); }

void CreditScheduler::yield(SchedUnit& unit, Time) { cu(unit).yielding = true; }

void CreditScheduler::affinity_changed(SchedUnit& unit, Time) {
    CreditUnit& c = cu(unit);
    if (!c.queued || valid_cpus(unit).contains(unit.processor())) return;
    dequeue(c);
    const Cpu cpu = choose_cpu(c);
    enqueue(c, cpu);
    tickle_for(c, cpu);
}

void CreditScheduler::deschedule(SchedUnit& unit, Cpu cpu, Time now) {
    CreditUnit& c = cu(unit);
    burn(c, now);
    c.running = false;
    c.last_ran = now;
    CreditCpu& p = pcpu_.at(cpu);
    p.curr = nullptr;
    p.last = &c;
    p.last_end = now;
    if (!unit.runnable() || c.parked) return;
    if (valid_cpus(unit).contains(cpu)) {
        enqueue(c, cpu);  // behind its equals: a yielding unit lets them go first
    } else {
        const Cpu to = choose_cpu(c);  // its hard affinity changed while it ran
        enqueue(c, to);
        tickle_for(c, to);
    }
}

Decision CreditScheduler::pick_next(Cpu cpu, Time now) {
    account(now);
    CreditCpu& p = pcpu_.at(cpu);
    const bool stretch = p.last && p.last_end == now;  // p.last was running here until now
    CreditUnit* next = nullptr;
    Time slice = tslice();

    const Time ratelimit = microseconds(g_.ratelimit_us);
    if (ratelimit && stretch && p.last->queued && p.last->unit->processor() == cpu &&
        !p.last->yielding && now - p.last_start < ratelimit) {
        next = p.last;
        slice = ratelimit - (now - p.last_start);
    } else {
        // Local work first if it is UNDER or BOOSTed; else something better from a peer.
        next = p.runq.empty() ? nullptr : p.runq.front();
        if (!next || next->pri < Pri::under) {
            if (CreditUnit* stolen = steal(cpu, next, now)) next = stolen;
        }
        if (next && next->pri == Pri::boost) slice = std::min(slice, next->boost_left);
    }
    if (stretch) p.last->yielding = false;  // its yield has had its effect

    if (!next) {
        p.last = nullptr;
        // Parked units come back at an accounting boundary: be there to run them.
        return Decision{nullptr, doms_.empty() ? kForever : next_acct_ - now};
    }
    if (!(stretch && next == p.last)) p.last_start = now;
    dequeue(*next);
    next->running = true;
    next->charged_until = now;
    next->unit->set_processor(cpu);
    p.curr = next;
    // End at the accounting boundary so that priorities and parking apply on time; picking
    // the same unit again there costs no context switch.
    return Decision{next->unit, std::min(slice, next_acct_ - now)};
}

// --- Parameters -----------------------------------------------------------------------------

DomainParams CreditScheduler::domain_params(domid_t domain) const {
    auto it = doms_.find(domain);
    if (it == doms_.end()) no_such_domain(domain);
    return it->second.params;
}

void CreditScheduler::set_domain_params(domid_t domain, const DomainParams& params) {
    const auto* p = std::get_if<CreditParams>(&params);
    if (!p) wrong_params("per-domain");
    auto it = doms_.find(domain);
    if (it == doms_.end()) no_such_domain(domain);
    const std::string dom = "domain " + std::to_string(domain);
    if (p->weight < 1)
        throw SchedError("credit weight 0 for " + dom + " is out of range 1..65535", XEN_EINVAL);
    const unsigned max_cap = 100 * static_cast<unsigned>(it->second.units.size());
    if (p->cap > max_cap)
        throw SchedError("credit cap " + std::to_string(p->cap) + " for " + dom +
                             " is out of range 0.." + std::to_string(max_cap) +
                             " (100 per vCPU)",
                         XEN_EINVAL);
    it->second.params = *p;
}

void CreditScheduler::set_params(const GlobalParams& params, Time) {
    const auto* g = std::get_if<CreditGlobals>(&params);
    if (!g) wrong_params("pool");
    if (g->tslice_ms < XEN_SYSCTL_CSCHED_TSLICE_MIN || g->tslice_ms > XEN_SYSCTL_CSCHED_TSLICE_MAX)
        throw SchedError("credit tslice " + std::to_string(g->tslice_ms) +
                             " ms is out of range " +
                             std::to_string(XEN_SYSCTL_CSCHED_TSLICE_MIN) + ".." +
                             std::to_string(XEN_SYSCTL_CSCHED_TSLICE_MAX) + " ms",
                         XEN_EINVAL);
    if (g->ratelimit_us != 0 && (g->ratelimit_us < XEN_SYSCTL_SCHED_RATELIMIT_MIN ||
                                 g->ratelimit_us > XEN_SYSCTL_SCHED_RATELIMIT_MAX))
        throw SchedError("credit ratelimit " + std::to_string(g->ratelimit_us) +
                             " us is out of range: 0 (off) or " +
                             std::to_string(XEN_SYSCTL_SCHED_RATELIMIT_MIN) + ".." +
                             std::to_string(XEN_SYSCTL_SCHED_RATELIMIT_MAX) + " us",
                         XEN_EINVAL);
    if (g->ratelimit_us > g->tslice_ms * 1000u)
        throw SchedError("credit ratelimit " + std::to_string(g->ratelimit_us) +
                             " us is longer than the tslice (" + std::to_string(g->tslice_ms) +
                             " ms)",
                         XEN_EINVAL);
    if (g->vcpu_migr_delay_us > XEN_SYSCTL_CSCHED_MGR_DLY_MAX_US)
        throw SchedError("credit migration delay " + std::to_string(g->vcpu_migr_delay_us) +
                             " us is out of range 0.." +
                             std::to_string(XEN_SYSCTL_CSCHED_MGR_DLY_MAX_US) + " us",
                         XEN_EINVAL);
    g_ = *g;
}

std::string CreditScheduler::dump(Time now) const {
    std::ostringstream out;
    out << "Scheduler: credit\n"
        << "  tslice " << g_.tslice_ms << " ms, ratelimit " << g_.ratelimit_us
        << " us, migration delay " << g_.vcpu_migr_delay_us << " us, next accounting in "
        << (next_acct_ == kForever ? -1 : (next_acct_ - now) / 1000) << " us\n";
    for (const auto& [id, d] : doms_) {
        out << "  domain " << id << ": weight " << d.params.weight << " cap " << d.params.cap
            << '\n';
        for (const CreditUnit* c : d.units)
            out << "    " << c->unit->name() << " " << to_string(c->pri) << " credit "
                << c->credit / 1000 << " us" << (c->active ? " active" : "")
                << (c->parked ? " parked" : "") << (c->running ? " running" : "")
                << (c->queued ? " queued" : "") << " on CPU " << c->unit->processor() << '\n';
    }
    for (const auto& [cpu, p] : pcpu_) {
        out << "  CPU " << cpu << " runq:";
        for (const CreditUnit* c : p.runq) out << ' ' << c->unit->name();
        out << '\n';
    }
    return out.str();
}

}  // namespace

std::unique_ptr<Scheduler> make_credit_scheduler(const Topology&) {
    return std::make_unique<CreditScheduler>();
}

}  // namespace xenolith::sched
