// credit2: Xen's second-generation proportional-share scheduler.
//
// The pool's CPUs are grouped into runqueues (per core, socket, node, all, or per CPU). In a
// runqueue every vCPU holds credit, and the one with the most runs. Running burns credit
// faster the lower a vCPU's weight: at max_weight/weight ns of credit per ns, where
// max_weight is the highest weight in the runqueue. When the vCPU with the most credit has
// none left, every vCPU of the runqueue gets a fresh CREDIT_INIT (10 ms) on top of what it
// has ("credit reset"), capped at CREDIT_INIT plus a small carry-over. A slice lasts until
// the runner's credit falls to that of the next in line, between 0.5 ms (or the ratelimit)
// and 10 ms.
//
// A cap gives a domain a budget of cap% of one CPU per 10 ms period, spent by all its vCPUs
// as they run; a domain that has spent it waits (parked) until the period's replenishment.
// Waking vCPUs pre-empt the runner with the least credit if they have more. An idle CPU
// with nothing in its own runqueue takes work from other runqueues (a simple stand-in for
// Xen's load-average balancing).
#include <algorithm>
#include <map>
#include <sstream>
#include <vector>

#include "sched/error.hpp"
#include "sched/schedulers.hpp"
#include "sched/xen_sched_abi.hpp"

namespace xenolith::sched {

namespace {

// Xen's credit2 constants.
constexpr Time kCreditInit = milliseconds(10);
constexpr Time kCreditMin = -kCreditInit;
constexpr Time kMinTimer = microseconds(500);
constexpr Time kMaxTimer = kCreditInit;
constexpr Time kCarryoverMax = kMinTimer;
constexpr Time kCapPeriod = milliseconds(10);

struct C2Domain;

struct C2Unit final : UnitPrivate {
    SchedUnit* unit = nullptr;
    C2Domain* dom = nullptr;
    std::uint64_t rq = 0;  // key of its runqueue
    Time credit = kCreditInit;
    bool queued = false;
    bool running = false;
    bool yielding = false;
    Time charged_until = 0;
};

struct C2Domain {
    Credit2Params params;
    std::vector<C2Unit*> units;
    Time budget = 0;  // for capped domains: CPU time left in this cap period
    bool capped() const { return params.cap != 0; }
    bool out_of_budget() const { return capped() && budget <= 0; }
};

struct Runqueue {
    CpuSet cpus;
    std::vector<C2Unit*> members;  // every unit assigned here, whatever its state
    std::vector<C2Unit*> queue;    // runnable, not running, most credit first
};

struct C2Cpu {
    std::uint64_t rq = 0;
    C2Unit* curr = nullptr;
    C2Unit* last = nullptr;  // for the ratelimit, as in credit
    Time last_start = 0;
    Time last_end = -1;
};

class Credit2Scheduler final : public Scheduler {
public:
    explicit Credit2Scheduler(const Topology& topology) : topology_(topology) {}

    std::string_view name() const override { return "credit2"; }
    uint32_t xen_id() const override { return XEN_SCHEDULER_CREDIT2; }

    void add_cpu(Cpu cpu, Time now) override;
    void remove_cpu(Cpu cpu, Time now) override;
    void insert_unit(SchedUnit& unit, Time now) override;
    void remove_unit(SchedUnit& unit, Time now) override;
    void wake(SchedUnit& unit, Time now) override;
    void sleep(SchedUnit& unit, Time now) override;
    void yield(SchedUnit& unit, Time) override { c2(unit).yielding = true; }
    void affinity_changed(SchedUnit& unit, Time now) override;
    void deschedule(SchedUnit& unit, Cpu cpu, Time now) override;
    Decision pick_next(Cpu cpu, Time now) override;

    DomainParams domain_params(domid_t domain) const override;
    void set_domain_params(domid_t domain, const DomainParams& params) override;
    GlobalParams params() const override { return g_; }
    void set_params(const GlobalParams& params, Time now) override;
    std::string dump(Time now) const override;

private:
    static C2Unit& c2(const SchedUnit& u) { return u.priv<C2Unit>(); }
    std::uint64_t rq_key(Cpu cpu) const;
    void rebuild_runqueues(Time now);
    std::uint64_t choose_rq(const C2Unit& u) const;
    void move_to_rq(C2Unit& u, std::uint64_t key);
    std::uint32_t max_weight(const Runqueue& rq) const;
    void enqueue(C2Unit& u);
    void dequeue(C2Unit& u);
    void burn(C2Unit& u, Time now);
    void reset_credit(Runqueue& rq, const C2Unit& next, Time now);
    void replenish(Time now);
    void tickle_for(C2Unit& u, Time now);
    void tickle_domain_cpus(const C2Domain& d);
    bool can_run(const C2Unit& u, Cpu cpu) const {
        return u.unit->hard_affinity().contains(cpu) && !u.dom->out_of_budget();
    }
    Time runtime(const C2Unit& next, const Runqueue& rq, Time min_time) const;
    bool any_waiting_for_budget() const;

    Topology topology_;
    Credit2Globals g_;
    std::map<Cpu, C2Cpu> pcpu_;
    std::map<std::uint64_t, Runqueue> rqs_;
    std::map<domid_t, C2Domain> doms_;
    Time next_repl_ = kForever;
};

std::uint64_t Credit2Scheduler::rq_key(Cpu cpu) const {
    const CpuPlace p = topology_.place(cpu);
    switch (g_.runqueue) {
        case RunqueueGrouping::cpu: return cpu;
        case RunqueueGrouping::core: return (std::uint64_t{p.socket} << 32) | p.core;
        case RunqueueGrouping::socket: return p.socket;
        case RunqueueGrouping::node: return p.node;
        case RunqueueGrouping::all: return 0;
    }
    return 0;
}

// Regroups the pool's CPUs; units of runqueues that are gone move to one that can run them.
void Credit2Scheduler::rebuild_runqueues(Time now) {
    for (auto& [key, rq] : rqs_) rq.cpus = CpuSet{};
    for (Cpu cpu : cpus_) {
        const std::uint64_t key = rq_key(cpu);
        rqs_[key].cpus.add(cpu);
        pcpu_[cpu].rq = key;
    }
    std::vector<C2Unit*> homeless;
    for (auto it = rqs_.begin(); it != rqs_.end();) {
        if (it->second.cpus.empty()) {
            homeless.insert(homeless.end(), it->second.members.begin(), it->second.members.end());
            it = rqs_.erase(it);
        } else {
            ++it;
        }
    }
    for (C2Unit* u : homeless) {
        const bool was_queued = u->queued;
        u->queued = false;
        u->rq = choose_rq(*u);
        rqs_[u->rq].members.push_back(u);
        if (was_queued) {
            enqueue(*u);
            tickle_for(*u, now);
        }
    }
    // Units whose runqueue kept CPUs, but none they may use, move too. Running ones are
    // re-placed when they are descheduled.
    std::vector<C2Unit*> stranded;
    for (auto& [key, rq] : rqs_)
        for (C2Unit* u : rq.members)
            if (!u->running && !rq.cpus.intersects(valid_cpus(*u->unit))) stranded.push_back(u);
    for (C2Unit* u : stranded) {
        const bool was_queued = u->queued;
        dequeue(*u);
        move_to_rq(*u, choose_rq(*u));
        if (was_queued) {
            enqueue(*u);
            tickle_for(*u, now);
        }
    }
}

// The runqueue a unit should belong to: its own while that has CPUs it may use, else the
// one with CPUs it may use and the fewest members.
std::uint64_t Credit2Scheduler::choose_rq(const C2Unit& u) const {
    const CpuSet valid = valid_cpus(*u.unit);
    auto own = rqs_.find(u.rq);
    if (own != rqs_.end() && own->second.cpus.intersects(valid)) return u.rq;
    const Runqueue* best = nullptr;
    std::uint64_t best_key = 0;
    for (const auto& [key, rq] : rqs_) {
        if (!rq.cpus.intersects(valid)) continue;
        if (!best || rq.members.size() < best->members.size()) {
            best = &rq;
            best_key = key;
        }
    }
    return best ? best_key : u.rq;
}

void Credit2Scheduler::move_to_rq(C2Unit& u, std::uint64_t key) {
    if (key == u.rq) return;
    auto& old = rqs_[u.rq].members;
    old.erase(std::remove(old.begin(), old.end(), &u), old.end());
    u.rq = key;
    rqs_[key].members.push_back(&u);
}

std::uint32_t Credit2Scheduler::max_weight(const Runqueue& rq) const {
    std::uint32_t w = 1;
    for (const C2Unit* u : rq.members) w = std::max<std::uint32_t>(w, u->dom->params.weight);
    return w;
}

void Credit2Scheduler::enqueue(C2Unit& u) {
    auto& q = rqs_.at(u.rq).queue;
    auto pos =
        std::find_if(q.begin(), q.end(), [&](const C2Unit* o) { return o->credit < u.credit; });
    q.insert(pos, &u);
    u.queued = true;
}

void Credit2Scheduler::dequeue(C2Unit& u) {
    if (!u.queued) return;
    auto& q = rqs_.at(u.rq).queue;
    q.erase(std::find(q.begin(), q.end(), &u));
    u.queued = false;
}

void Credit2Scheduler::burn(C2Unit& u, Time now) {
    const Time ran = now - u.charged_until;
    if (ran <= 0) return;
    u.charged_until = now;
    const Time cost = static_cast<Time>(__int128{ran} * max_weight(rqs_.at(u.rq)) /
                                        u.dom->params.weight);
    u.credit = std::max(u.credit - cost, kCreditMin);
    if (u.dom->capped()) {
        const bool had_budget = u.dom->budget > 0;
        u.dom->budget -= ran;
        if (had_budget && u.dom->budget <= 0) tickle_domain_cpus(*u.dom);
    }
}

void Credit2Scheduler::tickle_domain_cpus(const C2Domain& d) {
    for (const C2Unit* u : d.units)
        if (u->running) tickle(u->unit->processor());
}

// Everyone in the runqueue gets CREDIT_INIT more (twice that if the next runner is at the
// floor, so that it ends up positive), clipped to CREDIT_INIT plus the carry-over.
void Credit2Scheduler::reset_credit(Runqueue& rq, const C2Unit& next, Time now) {
    const Time add = next.credit <= kCreditMin ? 2 * kCreditInit : kCreditInit;
    for (C2Unit* u : rq.members) {
        if (u->running) burn(*u, now);
        u->credit = std::min(u->credit + add, kCreditInit + kCarryoverMax);
    }
    std::stable_sort(rq.queue.begin(), rq.queue.end(),
                     [](const C2Unit* a, const C2Unit* b) { return a->credit > b->credit; });
}

void Credit2Scheduler::replenish(Time now) {
    if (now < next_repl_) return;
    next_repl_ += ((now - next_repl_) / kCapPeriod + 1) * kCapPeriod;
    for (auto& [id, d] : doms_) {
        if (!d.capped()) continue;
        const bool was_out = d.out_of_budget();
        const Time per_period = d.params.cap * kCapPeriod / 100;
        for (C2Unit* u : d.units)
            if (u->running) burn(*u, now);
        // A debt carries over, so that a period's overrun is paid back in the next.
        d.budget = std::min(d.budget + per_period, per_period);
        if (was_out && !d.out_of_budget())
            for (C2Unit* u : d.units)
                if (u->queued) tickle_for(*u, now);
    }
}

bool Credit2Scheduler::any_waiting_for_budget() const {
    for (const auto& [id, d] : doms_)
        if (d.out_of_budget())
            for (const C2Unit* u : d.units)
                if (u->queued) return true;
    return false;
}

// A unit became runnable in its runqueue: an idle CPU there takes it (one it prefers, its
// last CPU first); else it pre-empts the runner with the least credit if it has more; else an
// idle CPU elsewhere may come and take it.
void Credit2Scheduler::tickle_for(C2Unit& u, Time now) {
    const CpuSet valid = valid_cpus(*u.unit);
    if (u.dom->out_of_budget()) {
        // It cannot run before the replenishment: an idle CPU is told so that its idle
        // slice ends there.
        for (Cpu cpu : valid)
            if (!pcpu_.at(cpu).curr) return tickle(cpu);
        return;
    }
    const CpuSet here = valid & rqs_.at(u.rq).cpus;
    const CpuSet preferred = preferred_cpus(*u.unit) & here;
    const Cpu last = u.unit->processor();
    for (const CpuSet* set : {&preferred, &here}) {
        if (set->contains(last) && !pcpu_.at(last).curr) return tickle(last);
        for (Cpu cpu : *set)
            if (!pcpu_.at(cpu).curr) return tickle(cpu);
    }
    C2Unit* weakest = nullptr;
    for (Cpu cpu : here) {
        C2Unit* cur = pcpu_.at(cpu).curr;
        burn(*cur, now);
        if (!weakest || cur->credit < weakest->credit) weakest = cur;
    }
    if (weakest && u.credit > weakest->credit) return tickle(weakest->unit->processor());
    for (Cpu cpu : valid - here)
        if (!pcpu_.at(cpu).curr) return tickle(cpu);
}

Time Credit2Scheduler::runtime(const C2Unit& next, const Runqueue& rq, Time min_time) const {
    Time credit = next.credit;
    if (!rq.queue.empty() && rq.queue.front()->credit > 0) credit -= rq.queue.front()->credit;
    Time time = credit > 0 ? static_cast<Time>(__int128{credit} * next.dom->params.weight /
                                               max_weight(rq))
                           : 0;
    if (next.dom->capped()) time = std::min(time, next.dom->budget);
    return std::clamp(time, min_time, std::max(min_time, kMaxTimer));
}

// --- CPUs -----------------------------------------------------------------------------------

void Credit2Scheduler::add_cpu(Cpu cpu, Time now) {
    cpus_.add(cpu);
    pcpu_[cpu];
    if (next_repl_ == kForever) next_repl_ = now + kCapPeriod;
    rebuild_runqueues(now);
}

void Credit2Scheduler::remove_cpu(Cpu cpu, Time now) {
    cpus_.remove(cpu);
    pcpu_.erase(cpu);
    rebuild_runqueues(now);
}

// --- Units ----------------------------------------------------------------------------------

void Credit2Scheduler::insert_unit(SchedUnit& unit, Time now) {
    auto u = std::make_unique<C2Unit>();
    u->unit = &unit;
    C2Domain& d = doms_[unit.domain()];
    u->dom = &d;
    d.units.push_back(u.get());
    u->charged_until = now;
    if (!valid_cpus(unit).contains(unit.processor())) unit.set_processor(*valid_cpus(unit).first());
    u->rq = pcpu_.at(unit.processor()).rq;
    rqs_.at(u->rq).members.push_back(u.get());
    unit.set_priv(std::move(u));
}

void Credit2Scheduler::remove_unit(SchedUnit& unit, Time) {
    C2Unit& u = c2(unit);
    dequeue(u);
    auto& members = rqs_.at(u.rq).members;
    members.erase(std::find(members.begin(), members.end(), &u));
    for (auto& [cpu, p] : pcpu_)
        if (p.last == &u) p.last = nullptr;
    auto& units = u.dom->units;
    units.erase(std::find(units.begin(), units.end(), &u));
    if (units.empty()) doms_.erase(unit.domain());
    unit.set_priv(nullptr);
}

void Credit2Scheduler::wake(SchedUnit& unit, Time now) {
    replenish(now);
    C2Unit& u = c2(unit);
    if (u.queued || u.running) return;
    move_to_rq(u, choose_rq(u));
    enqueue(u);
    tickle_for(u, now);
}

void Credit2Scheduler::sleep(SchedUnit& unit, Time) { dequeue(c2(unit)); }

void Credit2Scheduler::affinity_changed(SchedUnit& unit, Time now) {
    C2Unit& u = c2(unit);
    const std::uint64_t key = choose_rq(u);
    if (key == u.rq) return;
    const bool was_queued = u.queued;
    dequeue(u);
    move_to_rq(u, key);
    if (was_queued) {
        enqueue(u);
        tickle_for(u, now);
    }
}

void Credit2Scheduler::deschedule(SchedUnit& unit, Cpu cpu, Time now) {
    C2Unit& u = c2(unit);
    burn(u, now);
    u.running = false;
    C2Cpu& p = pcpu_.at(cpu);
    p.curr = nullptr;
    p.last = &u;
    p.last_end = now;
    if (!unit.runnable()) return;
    const std::uint64_t key = choose_rq(u);
    move_to_rq(u, key);
    enqueue(u);
    if (key != p.rq) tickle_for(u, now);
}

Decision Credit2Scheduler::pick_next(Cpu cpu, Time now) {
    replenish(now);
    C2Cpu& p = pcpu_.at(cpu);
    Runqueue& rq = rqs_.at(p.rq);
    const bool stretch = p.last && p.last_end == now;
    const Time ratelimit = microseconds(g_.ratelimit_us);
    C2Unit* next = nullptr;
    Time min_time = std::max(kMinTimer, ratelimit);

    if (ratelimit && stretch && p.last->queued && p.last->rq == p.rq && !p.last->yielding &&
        can_run(*p.last, cpu) && now - p.last_start < ratelimit) {
        next = p.last;
        min_time = std::max(kMinTimer, ratelimit - (now - p.last_start));
    } else {
        // The most credit first; a yielding unit only if nobody else can run.
        C2Unit* yielder = nullptr;
        for (C2Unit* u : rq.queue) {
            if (!can_run(*u, cpu)) continue;
            if (u->yielding && !yielder) {
                yielder = u;
                continue;
            }
            next = u;
            break;
        }
        if (!next) next = yielder;
        if (!next) {
            // Nothing here: take the richest unit another runqueue could not place.
            for (auto& [key, other] : rqs_) {
                if (key == p.rq) continue;
                for (C2Unit* u : other.queue) {
                    if (!can_run(*u, cpu)) continue;
                    if (!next || u->credit > next->credit) next = u;
                    break;
                }
            }
            if (next) {
                dequeue(*next);
                move_to_rq(*next, p.rq);
                enqueue(*next);
            }
        }
    }
    if (stretch) p.last->yielding = false;  // its yield has had its effect

    if (!next) {
        p.last = nullptr;
        return Decision{nullptr, any_waiting_for_budget() ? next_repl_ - now : kForever};
    }
    if (!(stretch && next == p.last)) p.last_start = now;
    dequeue(*next);
    if (next->credit <= 0) reset_credit(rq, *next, now);
    next->running = true;
    next->charged_until = now;
    next->unit->set_processor(cpu);
    p.curr = next;
    return Decision{next->unit, runtime(*next, rq, min_time)};
}

// --- Parameters -----------------------------------------------------------------------------

DomainParams Credit2Scheduler::domain_params(domid_t domain) const {
    auto it = doms_.find(domain);
    if (it == doms_.end()) no_such_domain(domain);
    return it->second.params;
}

void Credit2Scheduler::set_domain_params(domid_t domain, const DomainParams& params) {
    const auto* p = std::get_if<Credit2Params>(&params);
    if (!p) wrong_params("per-domain");
    auto it = doms_.find(domain);
    if (it == doms_.end()) no_such_domain(domain);
    const std::string dom = "domain " + std::to_string(domain);
    if (p->weight < 1)
        throw SchedError("credit2 weight 0 for " + dom + " is out of range 1..65535", XEN_EINVAL);
    const unsigned max_cap = 100 * static_cast<unsigned>(it->second.units.size());
    if (p->cap > max_cap)
        throw SchedError("credit2 cap " + std::to_string(p->cap) + " for " + dom +
                             " is out of range 0.." + std::to_string(max_cap) +
                             " (100 per vCPU)",
                         XEN_EINVAL);
    C2Domain& d = it->second;
    if (p->cap && !d.capped()) d.budget = p->cap * kCapPeriod / 100;
    d.params = *p;
}

void Credit2Scheduler::set_params(const GlobalParams& params, Time now) {
    const auto* g = std::get_if<Credit2Globals>(&params);
    if (!g) wrong_params("pool");
    if (g->ratelimit_us != 0 && (g->ratelimit_us < XEN_SYSCTL_SCHED_RATELIMIT_MIN ||
                                 g->ratelimit_us > XEN_SYSCTL_SCHED_RATELIMIT_MAX))
        throw SchedError("credit2 ratelimit " + std::to_string(g->ratelimit_us) +
                             " us is out of range: 0 (off) or " +
                             std::to_string(XEN_SYSCTL_SCHED_RATELIMIT_MIN) + ".." +
                             std::to_string(XEN_SYSCTL_SCHED_RATELIMIT_MAX) + " us",
                         XEN_EINVAL);
    const bool regroup = g->runqueue != g_.runqueue;
    g_ = *g;
    if (regroup) rebuild_runqueues(now);
}

std::string Credit2Scheduler::dump(Time) const {
    std::ostringstream out;
    out << "Scheduler: credit2\n"
        << "  ratelimit " << g_.ratelimit_us << " us, runqueues per " << to_string(g_.runqueue)
        << '\n';
    for (const auto& [key, rq] : rqs_) {
        out << "  runqueue " << key << " CPUs " << rq.cpus.to_string() << " max weight "
            << max_weight(rq) << ":";
        for (const C2Unit* u : rq.queue) out << ' ' << u->unit->name();
        out << '\n';
    }
    for (const auto& [id, d] : doms_) {
        out << "  domain " << id << ": weight " << d.params.weight << " cap " << d.params.cap;
        if (d.capped()) out << " budget " << d.budget / 1000 << " us";
        out << '\n';
        for (const C2Unit* u : d.units)
            out << "    " << u->unit->name() << " credit " << u->credit / 1000 << " us"
                << (u->running ? " running" : "") << (u->queued ? " queued" : "") << " on CPU "
                << u->unit->processor() << '\n';
    }
    return out.str();
}

}  // namespace

std::unique_ptr<Scheduler> make_credit2_scheduler(const Topology& topology) {
    return std::make_unique<Credit2Scheduler>(topology);
}

}  // namespace xenolith::sched
