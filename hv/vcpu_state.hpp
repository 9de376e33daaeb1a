// A vCPU's state as save/restore carries it (docs/domain-stream.md): what its guest would
// resume with, and what it had registered with the hypervisor. Taken on the vCPU's own
// thread while the domain is paused (hv::Vcpu::save_state), given back before a restored
// domain starts (hv::Vcpu::restore_state).
#pragma once

#include <cstdint>

#include "platform/platform.hpp"

namespace xenolith::hv {

struct VcpuState {
    static constexpr uint64_t kNone = ~uint64_t{0};

    bool initialised = false;  // given a context; if not, nothing below means anything
    bool up = false;
    // A vCPU asleep in SCHEDOP_block or SCHEDOP_poll is saved as returning from it with 0
    // (both may return early; guests look again), RIP already past the call.
    platform::Registers regs;
    uint64_t cr3 = 0;
    platform::ExtendedState ext;
    uint64_t event_callback = 0;
    uint64_t vcpu_info_gpa = kNone;  // VCPUOP_register_vcpu_info; kNone: shared_info's slot
    uint64_t runstate_gpa = kNone;   // VCPUOP_register_runstate_memory_area
    uint64_t timer_deadline = 0;     // VCPUOP_set_singleshot_timer, system time; 0: none
};

}  // namespace xenolith::hv
