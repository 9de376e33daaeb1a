// CPU pools (Xen's cpupools): the host's CPUs split into pools, each with its own scheduler
// instance and Dispatcher. A CPU belongs to exactly one pool or is free; a domain belongs to
// exactly one pool and its vCPUs run only on that pool's CPUs.
//
// At start Pool-0 (id 0) holds every host CPU with the credit scheduler. As in Xen, a CPU
// taken out of a pool is free until it is added to another, a pool can be destroyed only
// when no domain is in it (its CPUs become free), Pool-0 cannot be destroyed and CPU 0 stays
// in Pool-0. Moving a domain to another pool keeps its vCPUs' runstates (running ones
// continue as runnable there) and gives it the new scheduler's default parameters.
//
// Failures throw SchedError with one sentence and the errno Xen's cpupool_op would return.
// Not thread-safe: the caller holds one lock around the pools (their dispatchers included).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sched/clock.hpp"
#include "sched/cpuset.hpp"
#include "sched/dispatcher.hpp"
#include "sched/topology.hpp"
#include "sched/unit.hpp"

namespace xenolith::sched {

using PoolId = uint32_t;
inline constexpr PoolId kPool0 = 0;
inline constexpr const char* kPool0Name = "Pool-0";

// One line of `xl cpupool-list`.
struct PoolInfo {
    PoolId id = 0;
    std::string name;
    std::string sched;
    CpuSet cpus;
    unsigned nr_domains = 0;
};

class CpuPools {
public:
    // Pool-0 gets CPUs 0 .. nr_host_cpus-1 and the `pool0_sched` scheduler.
    CpuPools(const Clock& clock, RunnableHost& host, Cpu nr_host_cpus, Topology topology = {},
             std::string_view pool0_sched = "credit");

    // xl cpupool-create: a new pool with the lowest free id; `cpus` must be free.
    PoolId create(const std::string& name, std::string_view sched, const CpuSet& cpus);
    // xl cpupool-destroy: only a pool without domains; its CPUs become free.
    void destroy(PoolId id);
    // xl cpupool-rename.
    void rename(PoolId id, const std::string& name);
    // xl cpupool-cpu-add / cpupool-cpu-remove.
    void cpu_add(PoolId id, Cpu cpu);
    void cpu_remove(PoolId id, Cpu cpu);
    // xl cpupool-migrate: every vCPU of the domain moves.
    void migrate(domid_t domain, PoolId to);
    // xl cpupool-list, by id.
    std::vector<PoolInfo> list() const;

    CpuSet host_cpus() const { return host_cpus_; }
    CpuSet free_cpus() const;
    std::optional<PoolId> find(std::string_view name) const;
    // As find(), but SchedError(ENOENT) naming the pool when there is none.
    PoolId id_of(std::string_view name) const;

    // --- Domains --------------------------------------------------------------------------
    // Places a vCPU of a domain (xl.cfg pool=): all vCPUs of a domain go in one pool, which
    // must have CPUs.
    void add_unit(SchedUnit& unit, PoolId pool = kPool0);
    void remove_unit(SchedUnit& unit);
    std::optional<PoolId> pool_of(domid_t domain) const;

    Dispatcher& dispatcher(PoolId id);
    const Dispatcher& dispatcher(PoolId id) const;
    // The dispatcher of the pool the unit is in; SchedError(ESRCH) if none.
    Dispatcher& dispatcher_of(const SchedUnit& unit);

    // Across all pools: reschedule CPUs whose slice ended, and the earliest slice end.
    void run_timers();
    Time next_deadline() const;

private:
    struct Pool {
        PoolId id;
        std::string name;
        std::unique_ptr<Dispatcher> dispatcher;
        std::map<domid_t, std::vector<SchedUnit*>> domains;
    };

    Pool& pool(PoolId id);
    const Pool& pool(PoolId id) const;
    void check_new_name(const std::string& name) const;
    void check_free(Cpu cpu) const;
    std::optional<PoolId> owner(Cpu cpu) const;

    const Clock& clock_;
    RunnableHost& host_;
    Topology topology_;
    CpuSet host_cpus_;
    std::map<PoolId, Pool> pools_;
};

}  // namespace xenolith::sched
