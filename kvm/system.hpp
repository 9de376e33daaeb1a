// /dev/kvm: the system-level handle from which VMs are created.
#pragma once

#include <linux/kvm.h>

#include <string>

#include "base/unique_fd.hpp"

namespace xenolith::kvm {

class Vm;

class System {
public:
    // Opens `path` (normally /dev/kvm) and checks the API version; throws Error with the
    // reason (missing device, no permission, wrong version) when it cannot be used.
    explicit System(const std::string& path = "/dev/kvm");

    int fd() const { return fd_.get(); }
    // KVM_CHECK_EXTENSION on the system fd: 0 when absent, else a capability-specific value.
    int check_extension(long cap) const;
    size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }
    Vm create_vm() const;

private:
    UniqueFd fd_;
    size_t vcpu_mmap_size_ = 0;
};

}  // namespace xenolith::kvm
