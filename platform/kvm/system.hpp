// /dev/kvm: the system-level handle from which VMs are created.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"

namespace xenolith::kvm {

class Vm;

// struct kvm_cpuid2 as the kernel lays it out: Debian 12's uapi headers declare its
// flexible array with __DECLARE_FLEX_ARRAY, which C++ compiles with a one-byte empty member
// in front (sizeof 12, entries at offset 12), and the ioctl numbers encode that wrong size.
// So the CPUID ioctls are made with this header and numbers computed from it.
struct CpuidHeader {
    uint32_t nent;
    uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8);
inline constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
inline constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
// struct kvm_msrs likewise: its header, and the ioctls' numbers as C compilers make them.
struct MsrsHeader {
    uint32_t nmsrs;
    uint32_t pad;
};
static_assert(sizeof(MsrsHeader) == 8);
inline constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
inline constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);

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
    // KVM_GET_SUPPORTED_CPUID: every leaf KVM can give a guest, as a list of entries. Asked
    // once; every PVH domain's vCPUs start from it.
    const std::vector<kvm_cpuid_entry2>& supported_cpuid() const;

  private:
    std::vector<kvm_cpuid_entry2> query_supported_cpuid() const;
    UniqueFd fd_;
    mutable std::once_flag cpuid_once_;
    mutable std::vector<kvm_cpuid_entry2> cpuid_;
    size_t vcpu_mmap_size_ = 0;
};

}  // namespace xenolith::kvm
