#include "hv/scheduling.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>

#include "hv/domain.hpp"
#include "hv/vcpu.hpp"
#include "sched/error.hpp"

namespace xenolith::hv {

Scheduling::Scheduling(unsigned nr_host_cpus)
    : gate_([this](sched::SchedUnit& unit) {
          // Called by the gate under mutex_ (from a dispatcher decision): the member map
          // is stable. Only the kick's atomics and a signal: no lock.
          auto it = members_.find(&unit);
          if (it != members_.end()) it->second.vcpu->preempt_kick();
      }),
      pools_(clock_, gate_, static_cast<sched::Cpu>(nr_host_cpus ? nr_host_cpus : 1),
             sched::Topology::host()) {
    timer_ = std::thread([this] { timer_main(); });
}

Scheduling::~Scheduling() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    timer_cv_.notify_all();
    if (timer_.joinable()) timer_.join();
}

void Scheduling::timer_main() {
    // Slice ends are the schedulers' only clock: a timer thread that waits behind the
    // CPU-bound vCPU threads it is to pre-empt lets them overrun (rtds budgets, caps). It
    // runs for microseconds per wake-up and never spins, so a real-time priority is safe;
    // without the privilege, the highest nice value it may have.
    sched_param sp{};
    sp.sched_priority = 1;
    if (::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &sp) != 0)
        (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), -20);
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        const sched::Time now = clock_.now_ns();
        sched::Time next = pools_.next_deadline();
        if (next <= now) {
            try {
                pools_.run_timers();
            } catch (const std::exception& e) {
                // A scheduler bug must not take the whole host down with a silent hang, nor
                // spin at real-time priority holding the lock: the deadline is still past,
                // so wait a millisecond (the lock released) before trying again.
                std::fprintf(stderr, "xenolith: scheduler timer: %s\n", e.what());
                timer_cv_.wait_for(lock, std::chrono::milliseconds(1));
            }
            continue;
        }
        timer_target_ = next;
        if (next == sched::kForever)
            timer_cv_.wait(lock);
        else
            timer_cv_.wait_for(lock, std::chrono::nanoseconds(next - now));
        timer_target_ = sched::kForever;
    }
}

void Scheduling::note_deadline() {
    if (pools_.next_deadline() < timer_target_) {
        timer_target_ = pools_.next_deadline();
        timer_cv_.notify_one();
    }
}

// --- CPU pools ----------------------------------------------------------------------------

std::vector<sched::PoolInfo> Scheduling::pools() const {
    std::lock_guard lock(mutex_);
    return pools_.list();
}

sched::PoolId Scheduling::create_pool(const std::string& name, std::string_view scheduler,
                                      const sched::CpuSet& cpus) {
    std::lock_guard lock(mutex_);
    sched::PoolId id = pools_.create(name, scheduler, cpus);
    note_deadline();
    return id;
}

void Scheduling::destroy_pool(sched::PoolId id) {
    std::lock_guard lock(mutex_);
    pools_.destroy(id);
    note_deadline();
}

void Scheduling::rename_pool(sched::PoolId id, const std::string& name) {
    std::lock_guard lock(mutex_);
    pools_.rename(id, name);
}

void Scheduling::pool_cpu_add(sched::PoolId id, sched::Cpu cpu) {
    std::lock_guard lock(mutex_);
    pools_.cpu_add(id, cpu);
    note_deadline();
}

void Scheduling::pool_cpu_remove(sched::PoolId id, sched::Cpu cpu) {
    std::lock_guard lock(mutex_);
    pools_.cpu_remove(id, cpu);
    note_deadline();
}

void Scheduling::migrate(domid_t domain, sched::PoolId to) {
    std::lock_guard lock(mutex_);
    pools_.migrate(domain, to);
    note_deadline();
}

sched::PoolId Scheduling::pool_id(std::string_view name) const {
    std::lock_guard lock(mutex_);
    return pools_.id_of(name);
}

std::optional<sched::PoolId> Scheduling::pool_of(domid_t domain) const {
    std::lock_guard lock(mutex_);
    return pools_.pool_of(domain);
}

sched::CpuSet Scheduling::free_cpus() const {
    std::lock_guard lock(mutex_);
    return pools_.free_cpus();
}

sched::CpuSet Scheduling::host_cpus() const {
    std::lock_guard lock(mutex_);
    return pools_.host_cpus();
}

// --- Parameters ---------------------------------------------------------------------------

namespace {
[[noreturn]] void no_domain(domid_t domain) {
    throw sched::SchedError("domain " + std::to_string(domain) + " is in no CPU pool", XEN_ESRCH);
}
}  // namespace

std::string Scheduling::scheduler_name(sched::PoolId id) const {
    std::lock_guard lock(mutex_);
    return std::string(pools_.dispatcher(id).scheduler().name());
}

sched::DomainParams Scheduling::domain_params(domid_t domain) const {
    std::lock_guard lock(mutex_);
    auto pool = pools_.pool_of(domain);
    if (!pool) no_domain(domain);
    return pools_.dispatcher(*pool).scheduler().domain_params(domain);
}

void Scheduling::set_domain_params(domid_t domain, const sched::DomainParams& params) {
    std::lock_guard lock(mutex_);
    auto pool = pools_.pool_of(domain);
    if (!pool) no_domain(domain);
    pools_.dispatcher(*pool).set_domain_params(domain, params);
    note_deadline();
}

sched::SchedUnit* Scheduling::find_unit(domid_t domain, uint32_t vcpu) const {
    for (const auto& [unit, m] : members_)
        if (unit->domain() == domain && unit->vcpu() == vcpu)
            return const_cast<sched::SchedUnit*>(unit);
    return nullptr;
}

sched::DomainParams Scheduling::vcpu_params(domid_t domain, uint32_t vcpu) const {
    std::lock_guard lock(mutex_);
    auto pool = pools_.pool_of(domain);
    if (!pool) no_domain(domain);
    sched::SchedUnit* unit = find_unit(domain, vcpu);
    if (!unit)
        throw sched::SchedError(
            "domain " + std::to_string(domain) + " has no vCPU " + std::to_string(vcpu),
            XEN_EINVAL);
    return pools_.dispatcher(*pool).scheduler().unit_params(*unit);
}

void Scheduling::set_vcpu_params(domid_t domain, uint32_t vcpu, const sched::DomainParams& params) {
    std::lock_guard lock(mutex_);
    auto pool = pools_.pool_of(domain);
    if (!pool) no_domain(domain);
    sched::SchedUnit* unit = find_unit(domain, vcpu);
    if (!unit)
        throw sched::SchedError(
            "domain " + std::to_string(domain) + " has no vCPU " + std::to_string(vcpu),
            XEN_EINVAL);
    pools_.dispatcher(*pool).set_unit_params(*unit, params);
    note_deadline();
}

sched::GlobalParams Scheduling::pool_params(sched::PoolId id) const {
    std::lock_guard lock(mutex_);
    return pools_.dispatcher(id).scheduler().params();
}

void Scheduling::set_pool_params(sched::PoolId id, const sched::GlobalParams& params) {
    std::lock_guard lock(mutex_);
    pools_.dispatcher(id).set_params(params);
    note_deadline();
}

std::string Scheduling::dump(sched::PoolId id) const {
    std::lock_guard lock(mutex_);
    return pools_.dispatcher(id).dump();
}

// --- Domains and vCPUs --------------------------------------------------------------------

Scheduling::Member& Scheduling::member(const Vcpu& vcpu) {
    auto it = members_.find(&vcpu.sched_unit());
    if (it == members_.end())
        throw sched::SchedError(vcpu.sched_unit().name() + " is in no CPU pool", XEN_ESRCH);
    return it->second;
}

const Scheduling::Member& Scheduling::member(const Vcpu& vcpu) const {
    return const_cast<Scheduling*>(this)->member(vcpu);
}

void Scheduling::add_domain(Domain& domain, sched::PoolId pool) {
    std::lock_guard lock(mutex_);
    uint32_t added = 0;
    try {
        for (; added < domain.nr_vcpus(); ++added) {
            Vcpu& v = domain.vcpu(added);
            pools_.add_unit(v.sched_unit(), pool);
            members_[&v.sched_unit()] = Member{&v};
        }
    } catch (...) {
        for (uint32_t i = 0; i < added; ++i) {
            Vcpu& v = domain.vcpu(i);
            pools_.remove_unit(v.sched_unit());
            members_.erase(&v.sched_unit());
        }
        throw;
    }
    note_deadline();
}

void Scheduling::cancel_domain(Domain& domain) {
    std::lock_guard lock(mutex_);
    for (uint32_t i = 0; i < domain.nr_vcpus(); ++i) {
        Vcpu& v = domain.vcpu(i);
        auto it = members_.find(&v.sched_unit());
        if (it == members_.end()) continue;
        gate_.cancel(v.sched_unit());
        apply(it->second);
    }
    note_deadline();
}

void Scheduling::remove_domain(Domain& domain) {
    std::lock_guard lock(mutex_);
    for (uint32_t i = 0; i < domain.nr_vcpus(); ++i) {
        sched::SchedUnit& unit = domain.vcpu(i).sched_unit();
        auto it = members_.find(&unit);
        if (it == members_.end()) continue;
        pools_.remove_unit(unit);
        gate_.forget(unit);
        members_.erase(it);
    }
    note_deadline();
}

void Scheduling::apply(Member& m) {
    using sched::RunState;
    Vcpu& v = *m.vcpu;
    sched::SchedUnit& unit = v.sched_unit();
    sched::Dispatcher& d = pools_.dispatcher_of(unit);
    const Domain& dom = v.domain();
    if (m.gone || dom.stopping() || dom.paused() || !v.is_up()) {
        if (unit.state() != RunState::offline) d.offline(unit);
    } else if (m.asleep) {
        if (unit.state() != RunState::blocked) d.block(unit);
    } else if (!unit.runnable()) {
        d.wake(unit);
    }
    // A unit the dispatcher no longer runs must not keep a grant it could walk back in
    // with (the dispatcher reports only pre-emptions of runnable units); a thread still
    // inside KVM_RUN is kicked out.
    if (!unit.runnable()) gate_.preempt(unit);
}

void Scheduling::refresh(Vcpu& vcpu) {
    std::lock_guard lock(mutex_);
    auto it = members_.find(&vcpu.sched_unit());
    if (it == members_.end()) return;
    apply(it->second);
    note_deadline();
}

void Scheduling::refresh_domain(Domain& domain) {
    std::lock_guard lock(mutex_);
    for (uint32_t i = 0; i < domain.nr_vcpus(); ++i) {
        auto it = members_.find(&domain.vcpu(i).sched_unit());
        if (it != members_.end()) apply(it->second);
    }
    note_deadline();
}

std::optional<sched::Cpu> Scheduling::enter(Vcpu& vcpu) {
    return gate_.enter(vcpu.sched_unit());
}

void Scheduling::leave(Vcpu& vcpu) {
    gate_.leave(vcpu.sched_unit());
}

const std::atomic<bool>& Scheduling::holds_cpu(Vcpu& vcpu) {
    return gate_.holds_cpu(vcpu.sched_unit());
}

void Scheduling::sleep(Vcpu& vcpu) {
    std::lock_guard lock(mutex_);
    Member& m = member(vcpu);
    m.asleep = true;
    apply(m);
    gate_.leave(vcpu.sched_unit());
    note_deadline();
}

void Scheduling::wake(Vcpu& vcpu) {
    std::lock_guard lock(mutex_);
    Member& m = member(vcpu);
    m.asleep = false;
    apply(m);
    note_deadline();
}

void Scheduling::yield(Vcpu& vcpu) {
    std::lock_guard lock(mutex_);
    pools_.dispatcher_of(vcpu.sched_unit()).yield(vcpu.sched_unit());
    note_deadline();
}

void Scheduling::thread_exit(Vcpu& vcpu) {
    std::lock_guard lock(mutex_);
    auto it = members_.find(&vcpu.sched_unit());
    if (it != members_.end()) {
        it->second.gone = true;
        apply(it->second);
    }
    gate_.leave(vcpu.sched_unit());
    note_deadline();
}

void Scheduling::set_affinity(Vcpu& vcpu, const sched::CpuSet& hard, const sched::CpuSet& soft) {
    std::lock_guard lock(mutex_);
    sched::SchedUnit& unit = vcpu.sched_unit();
    pools_.dispatcher_of(unit).set_affinity(unit, hard, soft);
    note_deadline();
}

sched::CpuSet Scheduling::hard_affinity(const Vcpu& vcpu) const {
    std::lock_guard lock(mutex_);
    return vcpu.sched_unit().hard_affinity();
}

vcpu_runstate_info_t Scheduling::runstate(const Vcpu& vcpu) const {
    std::lock_guard lock(mutex_);
    return vcpu.sched_unit().runstate(clock_.now_ns()).to_xen();
}

}  // namespace xenolith::hv
