// The hypervisor instance: the KVM system handle, the time source and every domain.
// Domain ids are allocated here, as Xen's domctl does; domid 0 is the control domain
// (the host side), so guests get 1 and up.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "hv/domain.hpp"
#include "hv/pvclock.hpp"
#include "kvm/system.hpp"

namespace xenolith::hv {

class Hypervisor {
public:
    explicit Hypervisor(const std::string& kvm_path = "/dev/kvm");

    // Creates a domain in the Building state. Throws Error (with the reason) when the
    // request exceeds what the host allows or KVM refuses; nothing is left behind.
    std::shared_ptr<Domain> create_domain(const DomainParams& params);
    // Stops the domain's vCPUs and forgets it. Returns false if there is no such domain.
    bool destroy_domain(domid_t id);
    std::shared_ptr<Domain> find(domid_t id) const;
    std::vector<std::shared_ptr<Domain>> domains() const;

    const kvm::System& kvm() const { return kvm_; }
    const TimeSource& time() const { return time_; }
    // Memory a new domain may still take: what the host reports available.
    static uint64_t host_available_memory();

private:
    kvm::System kvm_;
    TimeSource time_;
    mutable std::mutex mutex_;
    std::map<domid_t, std::shared_ptr<Domain>> domains_;
    domid_t next_id_ = 1;
};

}  // namespace xenolith::hv
