// The host's CPU pools and their schedulers (sched/) made real for vCPU threads: every vCPU
// of every domain is a sched::SchedUnit in exactly one pool, and its thread enters KVM_RUN
// only on the host CPU the pool's dispatcher gave it (through sched::VcpuGate), pinned
// there, until it is pre-empted (Vcpu::kick), blocks or is paused.
//
// One lock guards the pools and their dispatchers; a timer thread calls run_timers() at
// each slice end. Every operation here takes that lock; failures throw sched::SchedError
// with a sentence and the Xen errno (ENOENT for an unknown pool, EBUSY, EINVAL, ...).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sched/clock.hpp"
#include "sched/cpupool.hpp"
#include "sched/params.hpp"
#include "sched/vcpu_gate.hpp"

namespace xenolith::hv {

class Domain;
class Vcpu;

class Scheduling {
public:
    // Pool-0 holds CPUs 0 .. nr_host_cpus-1 with the credit scheduler.
    explicit Scheduling(unsigned nr_host_cpus);
    ~Scheduling();  // stops the timer thread; every vCPU must have left
    Scheduling(const Scheduling&) = delete;
    Scheduling& operator=(const Scheduling&) = delete;

    // --- CPU pools (xl cpupool-*) -------------------------------------------------------
    std::vector<sched::PoolInfo> pools() const;
    sched::PoolId create_pool(const std::string& name, std::string_view scheduler, const sched::CpuSet& cpus);
    void destroy_pool(sched::PoolId id);
    void rename_pool(sched::PoolId id, const std::string& name);
    void pool_cpu_add(sched::PoolId id, sched::Cpu cpu);
    void pool_cpu_remove(sched::PoolId id, sched::Cpu cpu);
    // Every vCPU of the domain moves; the domain keeps running there.
    void migrate(domid_t domain, sched::PoolId to);
    sched::PoolId pool_id(std::string_view name) const;  // SchedError(ENOENT) if none
    std::optional<sched::PoolId> pool_of(domid_t domain) const;
    sched::CpuSet free_cpus() const;
    sched::CpuSet host_cpus() const;

    // --- Parameters (xl sched-*) --------------------------------------------------------
    std::string scheduler_name(sched::PoolId id) const;  // "credit", "rtds", ...
    sched::DomainParams domain_params(domid_t domain) const;
    void set_domain_params(domid_t domain, const sched::DomainParams& params);
    // Per vCPU (rtds only; the others throw EINVAL, as Xen).
    sched::DomainParams vcpu_params(domid_t domain, uint32_t vcpu) const;
    void set_vcpu_params(domid_t domain, uint32_t vcpu, const sched::DomainParams& params);
    sched::GlobalParams pool_params(sched::PoolId id) const;
    void set_pool_params(sched::PoolId id, const sched::GlobalParams& params);
    std::string dump(sched::PoolId id) const;

    // --- For hv::Vcpu and hv::Domain (not the toolstack) ----------------------------------
    // The implementation adds what the vCPU run loop needs (join a pool at domain creation
    // with the pool given in DomainParams, enter/leave around KVM_RUN, block, wake, pause,
    // set affinity, leave at destroy, runstate).
    //
    // What a vCPU's unit should be is derived, under the lock, from four facts: the domain
    // is stopping or paused (Domain's atomics), the vCPU is down (Vcpu::is_up), its thread
    // sleeps in SCHEDOP_block/poll, or its thread is gone. Whoever changes one of them calls
    // refresh() (or sleep()/wake()/thread_exit(), which change the last two) afterwards, so
    // the last caller always sees the final values: offline if stopping, paused, down or
    // gone; else blocked if asleep; else runnable.
    //
    // Locking order: Scheduling::mutex_ -> VcpuGate's lock. The gate's kick callback
    // (Vcpu::preempt_kick) takes no lock. Nothing here takes a Domain or Vcpu mutex, and
    // callers must not hold one (Domain::mutex_, Vcpu::mutex_/affinity_mutex_) when they
    // call in. enter() and leave() take only the gate's lock.

    // Every vCPU of `domain` joins `pool` (all or none), offline. SchedError on failure.
    void add_domain(Domain& domain, sched::PoolId pool);
    // The domain is stopping: its threads must not wait in the gate any more (enter()
    // returns nullopt from now on) and its units go offline.
    void cancel_domain(Domain& domain);
    // After the domain's vCPU threads are joined: the units leave their pool and the gate.
    // Idempotent.
    void remove_domain(Domain& domain);
    // Recompute the unit's state after Domain::pause/unpause, Vcpu::up/down.
    void refresh(Vcpu& vcpu);
    void refresh_domain(Domain& domain);

    // vCPU thread side. enter() blocks until the vCPU holds a CPU (nullopt: cancelled);
    // holds_cpu() is read after each exit without a lock.
    std::optional<sched::Cpu> enter(Vcpu& vcpu);
    void leave(Vcpu& vcpu);
    const std::atomic<bool>& holds_cpu(Vcpu& vcpu);
    // The guest blocks (SCHEDOP_block, poll): the unit blocks and the thread leaves its CPU.
    void sleep(Vcpu& vcpu);
    // The guest woke (an event, its timer, a timeout): the unit wants a CPU again.
    void wake(Vcpu& vcpu);
    void yield(Vcpu& vcpu);
    void thread_exit(Vcpu& vcpu);

    // xl vcpu-pin: SchedError(EINVAL) when `hard` has no CPU of the vCPU's pool.
    void set_affinity(Vcpu& vcpu, const sched::CpuSet& hard, const sched::CpuSet& soft);
    sched::CpuSet hard_affinity(const Vcpu& vcpu) const;
    vcpu_runstate_info_t runstate(const Vcpu& vcpu) const;
    sched::Time now() const { return clock_.now_ns(); }

private:
    struct Member {
        Vcpu* vcpu = nullptr;
        bool asleep = false;  // the thread sleeps in SCHEDOP_block/poll
        bool gone = false;    // the thread has ended
    };

    Member& member(const Vcpu& vcpu);
    const Member& member(const Vcpu& vcpu) const;
    // Brings the unit's dispatcher state in line with the facts (see above). Lock held.
    void apply(Member& m);
    sched::SchedUnit* find_unit(domid_t domain, uint32_t vcpu) const;
    // Wakes the timer thread when a decision moved the next deadline earlier. Lock held.
    void note_deadline();
    void timer_main();

    sched::MonotonicClock clock_;
    sched::VcpuGate gate_;
    mutable std::mutex mutex_;
    sched::CpuPools pools_;
    std::map<const sched::SchedUnit*, Member> members_;

    std::condition_variable timer_cv_;
    sched::Time timer_target_ = sched::kForever;
    bool stopping_ = false;
    std::thread timer_;
};

}  // namespace xenolith::hv
