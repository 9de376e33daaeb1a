#include "hv/hypervisor.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "base/error.hpp"
#include "platform/select.hpp"

namespace xenolith::hv {

namespace {
// The id after `id`, wrapping below Xen's reserved ids (DOMID_SELF and friends).
domid_t next_domid(domid_t id) {
    return static_cast<domid_t>(uint32_t{id} + 1 >= uint32_t{DOMID_FIRST_RESERVED} ? 1 : id + 1);
}
}  // namespace

Hypervisor::Hypervisor() : Hypervisor(platform::accel_from_environment()) {}

Hypervisor::Hypervisor(platform::Accel fallback, const std::string& kvm_path,
                       const std::string& stub_path)
    : Hypervisor(std::make_unique<platform::Platforms>(fallback, kvm_path, stub_path)) {}

Hypervisor::Hypervisor(std::unique_ptr<platform::Platform> only)
    : Hypervisor(std::make_unique<platform::Platforms>(std::move(only))) {}

// The default platform opens here, so a host that cannot run it fails now, with the reason.
// Every platform's guests read the host's own TSC, so one rate serves them all.
Hypervisor::Hypervisor(std::unique_ptr<platform::Platforms> platforms)
    : platforms_(std::move(platforms)),
      time_(platforms_->default_choice().platform.tsc_khz()),
      scheduling_(static_cast<unsigned>(std::max(1L, ::sysconf(_SC_NPROCESSORS_CONF)))) {}

namespace {
uint64_t meminfo_bytes(const std::string& wanted) {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t kib = 0;
    std::string unit;
    while (meminfo >> key >> kib >> unit)
        if (key == wanted) return kib * 1024;
    return 0;
}
}  // namespace

uint64_t Hypervisor::host_available_memory() {
    return meminfo_bytes("MemAvailable:");
}
uint64_t Hypervisor::host_total_memory() {
    return meminfo_bytes("MemTotal:");
}

uint64_t Hypervisor::committed_memory() const {
    std::lock_guard lock(mutex_);
    uint64_t sum = 0;
    for (const auto& [id, d] : domains_) sum += d->memory_bytes();
    return sum;
}

uint64_t Hypervisor::free_memory() const {
    uint64_t total = host_total_memory();
    uint64_t usable = total > kHostReserveBytes ? total - kHostReserveBytes : 0;
    uint64_t committed = committed_memory();
    uint64_t left = usable > committed ? usable - committed : 0;
    uint64_t available = host_available_memory();
    return available ? std::min(left, available) : left;
}

std::shared_ptr<Domain> Hypervisor::create_domain(const DomainParams& params) {
    uint64_t mib = params.memory_bytes >> 20;
    uint64_t available = host_available_memory();
    if (available && params.memory_bytes > available)
        throw Error("domain " + params.name + ": memory " + std::to_string(mib) +
                    " MiB exceeds the " + std::to_string(available >> 20) +
                    " MiB this host has available");

    platform::Platform& platform = platforms_->choose(params.accel).platform;
    const uint32_t max_vcpus = platform.max_vcpus();
    if (max_vcpus && params.vcpus > max_vcpus)
        throw Error("domain " + params.name + ": " + std::to_string(params.vcpus) +
                    " vCPUs exceed the " + platform.name() + " platform's limit of " +
                    std::to_string(max_vcpus));
    std::lock_guard lock(mutex_);
    // Checked under the lock, so that concurrent creates cannot both take the last RAM.
    if (uint64_t total = host_total_memory(); total) {
        uint64_t committed = 0;
        for (const auto& [id, d] : domains_) committed += d->memory_bytes();
        uint64_t usable = total > kHostReserveBytes ? total - kHostReserveBytes : 0;
        uint64_t free = usable > committed ? usable - committed : 0;
        if (params.memory_bytes > free)
            throw Error("domain " + params.name + ": memory " + std::to_string(mib) +
                        " MiB exceeds the " + std::to_string(free >> 20) +
                        " MiB not yet promised to other domains");
    }
    for (const auto& [id, d] : domains_)
        if (d->name() == params.name)
            throw Error("a domain named '" + params.name + "' already exists (domid " +
                        std::to_string(id) + ")");
    const domid_t wanted = params.preferred_id.value_or(0);
    if (wanted != 0 && wanted < DOMID_FIRST_RESERVED && !domains_.count(wanted)) {
        auto domain = std::make_shared<Domain>(*this, wanted, params);
        domains_[wanted] = domain;
        return domain;
    }
    // Find a free id below DOMID_FIRST_RESERVED, wrapping like Xen.
    domid_t id = next_id_;
    for (uint32_t tries = 0; domains_.count(id); ++tries) {
        if (tries >= uint32_t{DOMID_FIRST_RESERVED}) throw Error("no free domain id");
        id = next_domid(id);
    }
    auto domain = std::make_shared<Domain>(*this, id, params);
    domains_[id] = domain;
    next_id_ = next_domid(id);
    return domain;
}

bool Hypervisor::destroy_domain(domid_t id) {
    std::shared_ptr<Domain> d;
    {
        std::lock_guard lock(mutex_);
        auto it = domains_.find(id);
        if (it == domains_.end()) return false;
        d = it->second;
        domains_.erase(it);
    }
    d->destroy();
    return true;
}

void Hypervisor::rename_domain(domid_t id, const std::string& name) {
    std::lock_guard lock(mutex_);
    auto it = domains_.find(id);
    if (it == domains_.end()) throw Error("no domain with id " + std::to_string(id));
    for (const auto& [other, d] : domains_)
        if (other != id && d->name() == name)
            throw Error("a domain named '" + name + "' already exists (domid " +
                        std::to_string(other) + ")");
    it->second->set_name(name);
}

std::shared_ptr<Domain> Hypervisor::find(domid_t id) const {
    std::lock_guard lock(mutex_);
    auto it = domains_.find(id);
    return it == domains_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Domain>> Hypervisor::domains() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<Domain>> out;
    for (const auto& [id, d] : domains_) out.push_back(d);
    return out;
}

}  // namespace xenolith::hv
