// The HVM interfaces of a PVH domain (hvm_op, XENMEM_add_to_physmap for shared_info, the
// feature bits, runstate areas), called directly on a built, never started PVH domain.
// Needs /dev/kvm: a Domain is a KVM VM (its in-kernel LAPIC works on PVM hosts too).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "abi/xen.hpp"
#include "hv/domain.hpp"
#include "hv/hypercall.hpp"
#include "hv/hypervisor.hpp"
#include "tests/unit/hv/hypercall_fixture.hpp"

namespace xenolith::hv::testing {
namespace {

class PvhHypercallTest : public ::testing::Test {
protected:
    static constexpr uint64_t kMemory = 16 << 20;
    static constexpr uint64_t kScratch = 0x100000;  // guest-physical: paging is off

    void SetUp() override {
        static int serial = 0;
        DomainParams p;
        p.name = "pvh-unit-" + std::to_string(++serial);
        p.kind = GuestKind::Pvh;
        p.memory_bytes = kMemory;
        p.vcpus = 2;
        domain_ = HypercallTest::hypervisor().create_domain(p);
    }
    void TearDown() override { HypercallTest::hypervisor().destroy_domain(domain_->id()); }

    long call(unsigned nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0) {
        HypercallContext ctx{*domain_, domain_->vcpu(0),
                             GuestAccess(domain_->memory(), 0, GuestAccess::Mode::Physical)};
        return dispatch_hypercall(ctx, nr, {a0, a1, a2, 0, 0});
    }
    template <typename T>
    uint64_t put(const T& v, uint64_t at = kScratch) {
        EXPECT_TRUE(domain_->memory().write(at, v));
        return at;
    }
    long set_param(uint32_t index, uint64_t value) {
        xen_hvm_param_t p{};
        p.domid = DOMID_SELF;
        p.index = index;
        p.value = value;
        return call(__HYPERVISOR_hvm_op, HVMOP_set_param, put(p));
    }
    std::optional<uint64_t> get_param(uint32_t index) {
        xen_hvm_param_t p{};
        p.domid = DOMID_SELF;
        p.index = index;
        uint64_t at = put(p);
        if (call(__HYPERVISOR_hvm_op, HVMOP_get_param, at) != 0) return std::nullopt;
        return domain_->memory().read<xen_hvm_param_t>(at)->value;
    }

    std::shared_ptr<Domain> domain_;
};

TEST_F(PvhHypercallTest, TheGuestReadsTheRingParamsButCannotSetThem) {
    domain_->set_hvm_param(HVM_PARAM_STORE_PFN, 3);
    domain_->set_hvm_param(HVM_PARAM_CONSOLE_EVTCHN, 1);
    EXPECT_EQ(get_param(HVM_PARAM_STORE_PFN), 3u);
    EXPECT_EQ(get_param(HVM_PARAM_CONSOLE_EVTCHN), 1u);
    EXPECT_EQ(set_param(HVM_PARAM_STORE_PFN, 9), -XEN_EPERM);
    EXPECT_EQ(get_param(HVM_PARAM_STORE_PFN), 3u);
    EXPECT_EQ(set_param(HVM_NR_PARAMS, 1), -XEN_EINVAL);
    EXPECT_EQ(get_param(HVM_NR_PARAMS + 100), std::nullopt);
}

TEST_F(PvhHypercallTest, CallbackVectorIsChecked) {
    constexpr uint64_t kVectorType = uint64_t{HVM_PARAM_CALLBACK_TYPE_VECTOR} << 56;
    EXPECT_EQ(set_param(HVM_PARAM_CALLBACK_IRQ, kVectorType | 0xf3), 0);
    EXPECT_EQ(domain_->callback_vector(), 0xf3);
    EXPECT_EQ(set_param(HVM_PARAM_CALLBACK_IRQ, kVectorType | 0x05), -XEN_EINVAL);  // an exception
    EXPECT_EQ(set_param(HVM_PARAM_CALLBACK_IRQ, kVectorType | 0x1f3), -XEN_EINVAL);
    EXPECT_EQ(domain_->callback_vector(), 0xf3);
    // GSI 1: recorded (Linux's "I have PV drivers"), but nothing is delivered that way.
    EXPECT_EQ(set_param(HVM_PARAM_CALLBACK_IRQ, 1), 0);
    EXPECT_EQ(domain_->callback_vector(), 0);
    EXPECT_EQ(get_param(HVM_PARAM_CALLBACK_IRQ), 1u);
    EXPECT_EQ(set_param(HVM_PARAM_CALLBACK_IRQ, uint64_t{7} << 56), -XEN_EINVAL);  // no such type
}

TEST_F(PvhHypercallTest, UpcallVectorPerVcpuIsChecked) {
    xen_hvm_evtchn_upcall_vector_t u{};
    u.vcpu = 1;
    u.vector = 0xf3;
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, put(u)), 0);
    u.vcpu = 2;  // the domain has two
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, put(u)), -XEN_ENOENT);
    u.vcpu = 0;
    u.vector = 0x0e;
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, put(u)), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, kMemory + 0x1000), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, 9999, put(u)), -XEN_ENOSYS);
}

TEST_F(PvhHypercallTest, AnotherDomainsParamsAreRefused) {
    xen_hvm_param_t p{};
    p.domid = 0x7f00;  // no such domain
    p.index = HVM_PARAM_STORE_PFN;
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_get_param, put(p)), -XEN_ESRCH);
}

TEST_F(PvhHypercallTest, SharedInfoMovesIntoRamWithItsContents) {
    shared_info_t* before = domain_->shared_info();
    ASSERT_NE(before, nullptr);
    before->evtchn_pending[0] = 0x5;
    xen_add_to_physmap_t x{};
    x.domid = DOMID_SELF;
    x.space = XENMAPSPACE_shared_info;
    x.idx = 1;  // there is one shared_info page
    x.gpfn = 0x80;
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, put(x)), -XEN_EINVAL);
    x.idx = 0;
    x.gpfn = kMemory >> kPageShift;  // just past RAM
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, put(x)), -XEN_EINVAL);
    x.gpfn = 0x80;
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, put(x)), 0);
    shared_info_t* after = domain_->shared_info();
    EXPECT_EQ(reinterpret_cast<uint8_t*>(after), domain_->memory().base() + (0x80 << kPageShift));
    EXPECT_EQ(after->evtchn_pending[0], 0x5u);
}

TEST_F(PvhHypercallTest, FeaturesSayCallbackVectorAndSafePvclock) {
    xen_feature_info_t f{};
    f.submap_idx = 0;
    uint64_t at = put(f);
    ASSERT_EQ(call(__HYPERVISOR_xen_version, XENVER_get_features, at), 0);
    uint32_t submap = domain_->memory().read<xen_feature_info_t>(at)->submap;
    EXPECT_TRUE(submap & (1u << XENFEAT_hvm_callback_vector));
    EXPECT_TRUE(submap & (1u << XENFEAT_hvm_safe_pvclock));
    EXPECT_TRUE(submap & (1u << XENFEAT_auto_translated_physmap));
}

TEST_F(PvhHypercallTest, RunstateAreaIsWrittenWhereRegistered) {
    vcpu_register_runstate_memory_area_t area{};
    area.addr.v = reinterpret_cast<vcpu_runstate_info_t*>(0x200000);
    domain_->memory().write(uint64_t{0x200000}, uint64_t{0xdeadbeef});
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_register_runstate_memory_area, 0, put(area)), 0);
    // The scheduler's view of a never-run vCPU (offline), not what was there.
    EXPECT_NE(*domain_->memory().read<uint64_t>(0x200000), 0xdeadbeefu);
    area.addr.v = reinterpret_cast<vcpu_runstate_info_t*>(kMemory - 8);  // runs past RAM
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_register_runstate_memory_area, 0, put(area)), -XEN_EFAULT);
    // Another vCPU's area is translated through its own page tables: not from here.
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_register_runstate_memory_area, 1, put(area)), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_stop_periodic_timer, 0), 0);
}

TEST_F(PvhHypercallTest, MemoryMapIsTheBuildersWhole) {
    domain_->set_memory_map({{0, 0x1000, 1}, {0x1000, 0x4000, 2}, {0x5000, 0x1000, 3}, {0x6000, kMemory - 0x6000, 1}});
    struct [[gnu::packed]] E820 {
        uint64_t addr, size;
        uint32_t type;
    };
    xen_memory_map map{};
    map.nr_entries = 3;  // one short: refused, nothing written
    map.buffer.p = reinterpret_cast<void*>(0x210000);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_memory_map, put(map)), -XEN_EINVAL);
    map.nr_entries = 8;
    uint64_t at = put(map);
    ASSERT_EQ(call(__HYPERVISOR_memory_op, XENMEM_memory_map, at), 0);
    EXPECT_EQ(domain_->memory().read<xen_memory_map>(at)->nr_entries, 4u);
    auto e = *domain_->memory().read<E820>(0x210000 + 2 * sizeof(E820));
    EXPECT_EQ(e.addr, 0x5000u);
    EXPECT_EQ(e.type, 3u);
}

TEST_F(PvhHypercallTest, PvDomainsHaveNoHvmOp) {
    auto t = xenolith::testing::make_test_domain(HypercallTest::hypervisor(), "pv-for-hvm-op", 16 << 20, 1);
    HypercallContext ctx{*t.domain, t.domain->vcpu(0), GuestAccess(t.domain->memory(), t.plan.layout.pt_base)};
    EXPECT_EQ(dispatch_hypercall(ctx, __HYPERVISOR_hvm_op, {HVMOP_get_param, 0, 0, 0, 0}), -XEN_ENOSYS);
    HypercallTest::hypervisor().destroy_domain(t.domain->id());
}

}  // namespace
}  // namespace xenolith::hv::testing
