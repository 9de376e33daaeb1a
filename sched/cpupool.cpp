#include "sched/cpupool.hpp"

#include <algorithm>

#include "abi/xen.hpp"
#include "sched/error.hpp"

namespace xenolith::sched {

CpuPools::CpuPools(const Clock& clock, RunnableHost& host, Cpu nr_host_cpus, Topology topology,
                   std::string_view pool0_sched)
    : clock_(clock), host_(host), topology_(std::move(topology)) {
    if (nr_host_cpus == 0 || nr_host_cpus > CpuSet::kMaxCpus)
        throw SchedError("a host needs 1.." + std::to_string(CpuSet::kMaxCpus) + " CPUs, not " +
                             std::to_string(nr_host_cpus),
                         XEN_EINVAL);
    host_cpus_ = CpuSet::first_n(nr_host_cpus);
    Pool& p0 = pools_[kPool0];
    p0.id = kPool0;
    p0.name = kPool0Name;
    p0.dispatcher =
        std::make_unique<Dispatcher>(clock_, make_scheduler(pool0_sched, topology_), host_);
    for (Cpu cpu : host_cpus_) p0.dispatcher->add_cpu(cpu);
}

CpuPools::Pool& CpuPools::pool(PoolId id) {
    return const_cast<Pool&>(static_cast<const CpuPools*>(this)->pool(id));
}

const CpuPools::Pool& CpuPools::pool(PoolId id) const {
    auto it = pools_.find(id);
    if (it == pools_.end())
        throw SchedError("there is no CPU pool with id " + std::to_string(id), XEN_ENOENT);
    return it->second;
}

Dispatcher& CpuPools::dispatcher(PoolId id) { return *pool(id).dispatcher; }
const Dispatcher& CpuPools::dispatcher(PoolId id) const { return *pool(id).dispatcher; }

std::optional<PoolId> CpuPools::find(std::string_view name) const {
    for (const auto& [id, p] : pools_)
        if (p.name == name) return id;
    return std::nullopt;
}

PoolId CpuPools::id_of(std::string_view name) const {
    if (auto id = find(name)) return *id;
    throw SchedError("there is no CPU pool named '" + std::string(name) + "'", XEN_ENOENT);
}

std::optional<PoolId> CpuPools::owner(Cpu cpu) const {
    for (const auto& [id, p] : pools_)
        if (p.dispatcher->cpus().contains(cpu)) return id;
    return std::nullopt;
}

CpuSet CpuPools::free_cpus() const {
    CpuSet used;
    for (const auto& [id, p] : pools_) used = used | p.dispatcher->cpus();
    return host_cpus_ - used;
}

void CpuPools::check_new_name(const std::string& name) const {
    if (name.empty()) throw SchedError("a CPU pool needs a name", XEN_EINVAL);
    if (find(name))
        throw SchedError("a CPU pool named '" + name + "' already exists", XEN_EEXIST);
}

void CpuPools::check_free(Cpu cpu) const {
    if (!host_cpus_.contains(cpu))
        throw SchedError("CPU " + std::to_string(cpu) + " does not exist (the host has CPUs " +
                             host_cpus_.to_string() + ")",
                         XEN_EINVAL);
    if (auto id = owner(cpu))
        throw SchedError("CPU " + std::to_string(cpu) + " is in pool '" + pool(*id).name +
                             "'; remove it from there first",
                         XEN_ENODEV);
}

// --- Pools ----------------------------------------------------------------------------------

PoolId CpuPools::create(const std::string& name, std::string_view sched, const CpuSet& cpus) {
    check_new_name(name);
    for (Cpu cpu : cpus) check_free(cpu);
    auto scheduler = make_scheduler(sched, topology_);
    PoolId id = kPool0 + 1;
    while (pools_.count(id)) ++id;
    Pool& p = pools_[id];
    p.id = id;
    p.name = name;
    p.dispatcher = std::make_unique<Dispatcher>(clock_, std::move(scheduler), host_);
    for (Cpu cpu : cpus) p.dispatcher->add_cpu(cpu);
    return id;
}

void CpuPools::destroy(PoolId id) {
    Pool& p = pool(id);
    if (id == kPool0) throw SchedError("Pool-0 cannot be destroyed", XEN_EINVAL);
    if (!p.domains.empty())
        throw SchedError("pool '" + p.name + "' still has " + std::to_string(p.domains.size()) +
                             " domain(s); migrate or destroy them first",
                         XEN_EBUSY);
    const CpuSet cpus = p.dispatcher->cpus();  // a copy: removal changes the pool's set
    for (Cpu cpu : cpus) p.dispatcher->remove_cpu(cpu);
    pools_.erase(id);
}

void CpuPools::rename(PoolId id, const std::string& name) {
    Pool& p = pool(id);
    if (p.name == name) return;
    check_new_name(name);
    p.name = name;
}

void CpuPools::cpu_add(PoolId id, Cpu cpu) {
    Pool& p = pool(id);
    check_free(cpu);
    p.dispatcher->add_cpu(cpu);
}

void CpuPools::cpu_remove(PoolId id, Cpu cpu) {
    Pool& p = pool(id);
    if (!p.dispatcher->cpus().contains(cpu))
        throw SchedError("CPU " + std::to_string(cpu) + " is not in pool '" + p.name + "'",
                         XEN_EADDRNOTAVAIL);
    if (id == kPool0 && cpu == 0) throw SchedError("CPU 0 must stay in Pool-0", XEN_EINVAL);
    if (p.dispatcher->cpus().count() == 1 && !p.domains.empty())
        throw SchedError("CPU " + std::to_string(cpu) + " is the last CPU of pool '" + p.name +
                             "', which still has domains",
                         XEN_EBUSY);
    p.dispatcher->remove_cpu(cpu);
}

std::vector<PoolInfo> CpuPools::list() const {
    std::vector<PoolInfo> out;
    for (const auto& [id, p] : pools_)
        out.push_back(PoolInfo{id, p.name, std::string(p.dispatcher->scheduler().name()),
                               p.dispatcher->cpus(), static_cast<unsigned>(p.domains.size())});
    return out;
}

// --- Domains --------------------------------------------------------------------------------

std::optional<PoolId> CpuPools::pool_of(domid_t domain) const {
    for (const auto& [id, p] : pools_)
        if (p.domains.count(domain)) return id;
    return std::nullopt;
}

void CpuPools::add_unit(SchedUnit& unit, PoolId id) {
    Pool& p = pool(id);
    if (auto other = pool_of(unit.domain()); other && *other != id)
        throw SchedError("domain " + std::to_string(unit.domain()) + " is in pool '" +
                             pool(*other).name + "': all its vCPUs go in one pool",
                         XEN_EINVAL);
    if (p.dispatcher->cpus().empty())
        throw SchedError("pool '" + p.name + "' has no CPUs to run domain " +
                             std::to_string(unit.domain()),
                         XEN_ENODEV);
    p.dispatcher->add_unit(unit);
    p.domains[unit.domain()].push_back(&unit);
}

void CpuPools::remove_unit(SchedUnit& unit) {
    auto id = pool_of(unit.domain());
    if (!id) throw SchedError(unit.name() + " is in no CPU pool", XEN_ESRCH);
    Pool& p = pool(*id);
    p.dispatcher->remove_unit(unit);
    auto& units = p.domains[unit.domain()];
    units.erase(std::find(units.begin(), units.end(), &unit));
    if (units.empty()) p.domains.erase(unit.domain());
}

Dispatcher& CpuPools::dispatcher_of(const SchedUnit& unit) {
    auto id = pool_of(unit.domain());
    if (!id) throw SchedError(unit.name() + " is in no CPU pool", XEN_ESRCH);
    return dispatcher(*id);
}

void CpuPools::migrate(domid_t domain, PoolId to) {
    auto from = pool_of(domain);
    if (!from)
        throw SchedError("domain " + std::to_string(domain) + " is in no CPU pool", XEN_ESRCH);
    Pool& dst = pool(to);
    if (*from == to) return;
    if (dst.dispatcher->cpus().empty())
        throw SchedError("pool '" + dst.name + "' has no CPUs to run domain " +
                             std::to_string(domain),
                         XEN_ENODEV);
    Pool& src = pool(*from);
    std::vector<SchedUnit*> units = std::move(src.domains.at(domain));
    src.domains.erase(domain);
    for (SchedUnit* u : units) {
        src.dispatcher->remove_unit(*u);
        dst.dispatcher->add_unit(*u);
    }
    dst.domains[domain] = std::move(units);
}

// --- Time -----------------------------------------------------------------------------------

void CpuPools::run_timers() {
    for (auto& [id, p] : pools_) p.dispatcher->run_timers();
}

Time CpuPools::next_deadline() const {
    Time t = kForever;
    for (const auto& [id, p] : pools_) t = std::min(t, p.dispatcher->next_deadline());
    return t;
}

}  // namespace xenolith::sched
