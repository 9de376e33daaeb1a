// The hypervisor instance: the platform that runs guests, the time source and every domain.
// Domain ids are allocated here, as Xen's domctl does; domid 0 is the control domain
// (the host side), so guests get 1 and up.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "hv/domain.hpp"
#include "hv/pvclock.hpp"
#include "hv/scheduling.hpp"
#include "platform/platform.hpp"
#include "platform/select.hpp"

namespace xenolith::hv {

class Hypervisor {
  public:
    // Domains that do not choose go where XENOLITH_ACCEL (else "auto") says.
    Hypervisor();
    // Domains that do not choose go where `fallback` says (platform/select.hpp).
    explicit Hypervisor(platform::Accel fallback, const std::string& kvm_path = "/dev/kvm",
                        const std::string& stub_path = {});
    // Every domain on `only`.
    explicit Hypervisor(std::unique_ptr<platform::Platform> only);

    // Creates a domain in the Building state. Throws Error (with the reason) when the
    // request exceeds what the host allows or KVM refuses; nothing is left behind.
    std::shared_ptr<Domain> create_domain(const DomainParams& params);
    // Stops the domain's vCPUs and forgets it. Returns false if there is no such domain.
    bool destroy_domain(domid_t id);
    std::shared_ptr<Domain> find(domid_t id) const;
    // xl rename: throws Error when `name` is taken by another domain or `id` is unknown.
    void rename_domain(domid_t id, const std::string& name);
    std::vector<std::shared_ptr<Domain>> domains() const;

    // Which platform a domain runs on, and why; the default one's for `xn info`.
    platform::Platforms& platforms() const { return *platforms_; }
    const TimeSource& time() const { return time_; }
    // The CPU pools and their schedulers: which vCPU runs on which host CPU.
    Scheduling& scheduling() { return scheduling_; }
    const Scheduling& scheduling() const { return scheduling_; }
    // What the host reports available now (MemAvailable).
    static uint64_t host_available_memory();
    // The host's RAM (MemTotal).
    static uint64_t host_total_memory();
    // RAM promised to domains that exist now (their memory sizes, touched or not). A new
    // domain must fit beside them in the host's RAM, less kHostReserveBytes for the host,
    // and in what is available now: guest RAM is demand-paged, so without this count
    // domains could be promised more RAM than the host has.
    uint64_t committed_memory() const;
    // Memory a new domain may still be given (xl info's free_memory).
    uint64_t free_memory() const;
    static constexpr uint64_t kHostReserveBytes = uint64_t{512} << 20;

  private:
    explicit Hypervisor(std::unique_ptr<platform::Platforms> platforms);
    std::unique_ptr<platform::Platforms> platforms_;
    TimeSource time_;
    // Before domains_: domains leave their pools as they are destroyed.
    Scheduling scheduling_;
    mutable std::mutex mutex_;
    std::map<domid_t, std::shared_ptr<Domain>> domains_;
    domid_t next_id_ = 1;
};

}  // namespace xenolith::hv
