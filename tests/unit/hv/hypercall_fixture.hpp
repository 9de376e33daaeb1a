// A built but never started domain whose vCPU 0 hypercalls are called directly, so handler
// argument checks can be tested one by one. Its platform runs nothing (null_platform.hpp):
// no VM is needed.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "abi/xen.hpp"
#include "boot/pv_builder.hpp"
#include "hv/domain.hpp"
#include "hv/hypercall.hpp"
#include "hv/hypervisor.hpp"
#include "tests/support/null_platform.hpp"
#include "tests/support/test_domain.hpp"

namespace xenolith::hv::testing {

class HypercallTest : public ::testing::Test {
  public:
    // One hypervisor for every hypercall test in the binary (PVH ones too).
    static Hypervisor& hypervisor() {
        static Hypervisor hv(std::make_unique<xenolith::testing::NullPlatform>());
        return hv;
    }

  protected:
    static constexpr uint64_t kMemory = 16 << 20;

    void SetUp() override { make_domain(kDefaultMaxEventChannels); }
    void TearDown() override {
        if (domain_) hypervisor().destroy_domain(domain_->id());
    }

    void make_domain(uint32_t max_evtchn) {
        if (domain_) hypervisor().destroy_domain(domain_->id());
        static int serial = 0;
        auto t = xenolith::testing::make_test_domain(
            hypervisor(), "unit-" + std::to_string(++serial), kMemory, 2, max_evtchn);
        domain_ = t.domain;
        plan_ = t.plan;
        next_scratch_ = plan_.layout.first_free;
        domain_->set_console([this](std::string_view s) { console_ += s; });
    }

    long call(unsigned nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
              uint64_t a4 = 0, uint32_t vcpu = 0) {
        HypercallContext ctx{*domain_, domain_->vcpu(vcpu),
                             GuestAccess(domain_->memory(), plan_.layout.pt_base)};
        return dispatch_hypercall(ctx, nr, {a0, a1, a2, a3, a4});
    }

    // Copies `value` into free guest memory and returns its (identity-mapped) address.
    template <typename T>
    uint64_t put(const T& value) {
        uint64_t va = next_scratch_;
        next_scratch_ += (sizeof(T) + 63) & ~uint64_t{63};
        EXPECT_TRUE(domain_->memory().write(va, value));
        return va;
    }
    template <typename T>
    T get(uint64_t va) {
        return *domain_->memory().read<T>(va);
    }

    static constexpr uint64_t kUnmapped = 0x10;                    // in the unmapped null page
    static constexpr uint64_t kBeyondRam = kMemory + 0x1000;       // past the end of RAM
    static constexpr uint64_t kUpperHalf = 0xffff800000000000ull;  // not the guest's

    std::shared_ptr<Domain> domain_;
    boot::PvBootPlan plan_;
    uint64_t next_scratch_ = 0;
    std::string console_;
};

}  // namespace xenolith::hv::testing
