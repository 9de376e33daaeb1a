#include "platform/kvm/hvm_cpuid.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "abi/xen.hpp"

#include <xen/arch-x86/cpuid.h>

namespace xenolith::kvm {
namespace {

kvm_cpuid_entry2 entry(uint32_t function, uint32_t a = 0, uint32_t b = 0, uint32_t c = 0,
                       uint32_t d = 0) {
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.eax = a;
    e.ebx = b;
    e.ecx = c;
    e.edx = d;
    return e;
}

const kvm_cpuid_entry2* find(const std::vector<kvm_cpuid_entry2>& v, uint32_t function,
                             uint32_t index = 0) {
    auto it = std::find_if(v.begin(), v.end(), [&](const kvm_cpuid_entry2& e) {
        return e.function == function && e.index == index;
    });
    return it == v.end() ? nullptr : &*it;
}

// What KVM_GET_SUPPORTED_CPUID returns in part: basic leaves and KVM's own signature.
std::vector<kvm_cpuid_entry2> host() {
    return {entry(0, 0xd), entry(1, 0x800f12, 0x00010800, 0x7ed8320b, 0x178bfbff),
            entry(0x40000000, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d), entry(0x40000001, 0x7ff)};
}

TEST(HvmCpuid, XenSignatureReplacesKvms) {
    auto v = hvm_cpuid(host(), 0, 7);
    const auto* sig = find(v, 0x40000000);
    ASSERT_NE(sig, nullptr);
    char name[13] = {};
    std::memcpy(name, &sig->ebx, 4);
    std::memcpy(name + 4, &sig->ecx, 4);
    std::memcpy(name + 8, &sig->edx, 4);
    EXPECT_EQ(std::string(name), "XenVMMXenVMM");
    EXPECT_EQ(sig->eax, 0x40000000u + XEN_CPUID_MAX_NUM_LEAVES - 1);
    EXPECT_EQ(
        std::count_if(v.begin(), v.end(), [](const auto& e) { return e.function == 0x40000000; }),
        1);
    const auto* ver = find(v, 0x40000001);
    ASSERT_NE(ver, nullptr);
    EXPECT_EQ(ver->eax >> 16, 4u);  // Xen 4.x
}

TEST(HvmCpuid, HypercallMsrAndHvmFeatures) {
    auto v = hvm_cpuid(host(), 3, 9);
    const auto* hc = find(v, 0x40000002);
    ASSERT_NE(hc, nullptr);
    EXPECT_EQ(hc->eax, 1u);
    EXPECT_EQ(hc->ebx, kXenHypercallMsr);
    const auto* hvm = find(v, 0x40000004);
    ASSERT_NE(hvm, nullptr);
    EXPECT_TRUE(hvm->eax & XEN_HVM_CPUID_VCPU_ID_PRESENT);
    EXPECT_TRUE(hvm->eax & XEN_HVM_CPUID_DOMID_PRESENT);
    EXPECT_TRUE(hvm->eax & XEN_HVM_CPUID_UPCALL_VECTOR);
    EXPECT_EQ(hvm->ebx, 3u);
    EXPECT_EQ(hvm->ecx, 9u);
}

TEST(HvmCpuid, HypervisorBitAndApicId) {
    auto v = hvm_cpuid(host(), 5, 1);
    const auto* l1 = find(v, 1);
    ASSERT_NE(l1, nullptr);
    EXPECT_TRUE(l1->ecx & (1u << 31));
    EXPECT_EQ(l1->ebx >> 24, 5u);
    EXPECT_EQ(l1->ebx & 0xffff, 0x0800u);  // brand index and CLFLUSH size kept
}

}  // namespace
}  // namespace xenolith::kvm
