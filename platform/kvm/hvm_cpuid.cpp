#include "platform/kvm/hvm_cpuid.hpp"

#include "abi/xen.hpp"

#include <xen/arch-x86/cpuid.h>

#include <algorithm>

#include "abi/version.hpp"

namespace xenolith::kvm {

namespace {
constexpr uint32_t kHypervisorRangeStart = 0x40000000;
constexpr uint32_t kHypervisorRangeEnd = 0x50000000;
constexpr uint32_t kHypervisorPresent = 1u << 31;  // leaf 1 ECX

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.eax = a;
    e.ebx = b;
    e.ecx = c;
    e.edx = d;
    return e;
}
}  // namespace

std::vector<kvm_cpuid_entry2> hvm_cpuid(std::vector<kvm_cpuid_entry2> cpuid, uint32_t vcpu_id,
                                        uint16_t domid) {
    std::erase_if(cpuid, [](const kvm_cpuid_entry2& e) {
        return e.function >= kHypervisorRangeStart && e.function < kHypervisorRangeEnd;
    });
    for (auto& e : cpuid) {
        switch (e.function) {
            case 1:
                e.ecx |= kHypervisorPresent;
                // EBX[31:24] is the initial APIC ID, [23:16] the logical processors per
                // package: one vCPU per package, so that no topology needs inventing.
                e.ebx = (e.ebx & 0x0000ffffu) | (vcpu_id << 24) | (1u << 16);
                break;
            case 0xb:
            case 0x1f:
                e.edx = vcpu_id;  // the x2APIC ID
                break;
            default:
                break;
        }
    }
    const uint32_t base = XEN_CPUID_FIRST_LEAF;
    cpuid.push_back(leaf(base, base + XEN_CPUID_MAX_NUM_LEAVES - 1, XEN_CPUID_SIGNATURE_EBX,
                         XEN_CPUID_SIGNATURE_ECX, XEN_CPUID_SIGNATURE_EDX));
    cpuid.push_back(
        leaf(base + 1, static_cast<uint32_t>((abi::kXenMajor << 16) | abi::kXenMinor), 0, 0, 0));
    // One hypercall page, installed through kXenHypercallMsr.
    cpuid.push_back(leaf(base + 2, 1, kXenHypercallMsr, 0, 0));
    // Time leaf: no TSC-mode information offered (all zero), as Xen for a guest it does
    // not describe; the guest uses pvclock from vcpu_info.
    for (uint32_t sub = 0; sub < 3; ++sub) {
        kvm_cpuid_entry2 t = leaf(base + 3, 0, 0, 0, 0);
        t.index = sub;
        t.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        cpuid.push_back(t);
    }
    // HVM features: the vCPU ID and domain ID are given, and per-vCPU upcall vectors
    // (HVMOP_set_evtchn_upcall_vector) are available.
    cpuid.push_back(leaf(
        base + 4,
        XEN_HVM_CPUID_VCPU_ID_PRESENT | XEN_HVM_CPUID_DOMID_PRESENT | XEN_HVM_CPUID_UPCALL_VECTOR,
        vcpu_id, domid, 0));
    return cpuid;
}

}  // namespace xenolith::kvm
