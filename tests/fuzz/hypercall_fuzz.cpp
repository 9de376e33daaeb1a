// Hostile guests: arbitrary hypercall numbers, arguments and guest-memory contents go
// through the real dispatch table on a real (stopped) domain. Handlers must return an
// errno or a result and never touch memory outside the guest's RAM. The domain's platform
// runs nothing (tests/support/null_platform.hpp): no VM is needed.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "abi/xen.hpp"
#include "boot/elf_image.hpp"
#include "boot/pv_builder.hpp"
#include "hv/domain.hpp"
#include "hv/hypercall.hpp"
#include "hv/hypervisor.hpp"
#include "tests/support/null_platform.hpp"
#include "tests/support/test_domain.hpp"

namespace {

using namespace xenolith;

constexpr uint64_t kMemory = 8 << 20;

struct Target {
    hv::Hypervisor hv{std::make_unique<testing::NullPlatform>()};
    std::shared_ptr<hv::Domain> domain;
    boot::PvBootPlan plan;

    Target() {
        auto t = testing::make_test_domain(hv, "fuzz", kMemory, 2);
        domain = t.domain;
        plan = t.plan;
        domain->set_console([](std::string_view) {});
        // Stopped, so SCHEDOP_block/poll return at once instead of sleeping.
        domain->shutdown(SHUTDOWN_poweroff);
    }
};

// Argument values worth trying: addresses in and around the scratch area, RAM's edges,
// the null page, the upper half, and small integers.
uint64_t pick_arg(uint64_t raw, uint64_t scratch) {
    switch (raw & 7) {
        case 0:
            return raw >> 3 & 0xffff;
        case 1:
            return scratch + ((raw >> 3) & 0xfff);
        case 2:
            return kMemory - ((raw >> 3) & 0xfff);
        case 3:
            return (raw >> 3) & 0xfff;
        case 4:
            return 0xffff800000000000ull + (raw >> 3);
        default:
            return raw;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Target t;
    if (size < 1 + 5 * 8) return 0;
    const uint64_t scratch = t.plan.layout.first_free;
    unsigned nr = data[0] % hv::kHypercallTableSize;
    hv::HypercallArgs args;
    for (int i = 0; i < 5; ++i) {
        uint64_t raw;
        std::memcpy(&raw, data + 1 + 8 * i, 8);
        args[static_cast<size_t>(i)] = pick_arg(raw, scratch);
    }
    // Most first arguments are sub-command numbers: keep them small half of the time.
    if (args[0] & 1) args[0] = (args[0] >> 1) % 16;
    // The rest of the input is what the guest left in memory for the hypercall to read.
    size_t body = std::min<size_t>(size - 41, 0x4000);
    std::memcpy(t.domain->memory().base() + scratch, data + 41, body);
    hv::HypercallContext ctx{*t.domain, t.domain->vcpu(data[1] & 1),
                             hv::GuestAccess(t.domain->memory(), t.plan.layout.pt_base)};
    hv::dispatch_hypercall(ctx, nr, args);
    return 0;
}
