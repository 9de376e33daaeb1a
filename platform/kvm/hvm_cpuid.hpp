// What CPUID says to a hardware-virtualized (PVH) guest: the host CPU as KVM can offer it,
// flagged as running under a hypervisor, with Xen's leaves at 0x40000000 in place of KVM's
// own paravirtual ones. A guest finds Xen by that signature ("XenVMMXenVMM"), reads the
// version, the hypercall-page MSR and the HVM features from it (Xen's
// xen/include/public/arch-x86/cpuid.h), and must not also see KVM's leaves: Linux would
// then take KVM's paravirtual clock and interrupts instead of Xen's.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace xenolith::kvm {

// The MSR whose write installs the hypercall page (CPUID 0x40000002 EBX, as in Xen).
inline constexpr uint32_t kXenHypercallMsr = 0x40000000;

// `supported` is KVM_GET_SUPPORTED_CPUID; the result is for KVM_SET_CPUID2 on vCPU
// `vcpu_id` (also its APIC ID) of domain `domid`.
std::vector<kvm_cpuid_entry2> hvm_cpuid(std::vector<kvm_cpuid_entry2> supported, uint32_t vcpu_id,
                                        uint16_t domid);

}  // namespace xenolith::kvm
