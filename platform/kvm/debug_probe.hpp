// Whether this host's KVM hands a guest's debug events to user space, found out by trying:
// KVM_CAP_SET_GUEST_DEBUG is no promise. Under Debian 12's QEMU 7.2 (the nested test host,
// tests/nested/README.md) an L2 guest's int3 never exits, while single steps do.
#pragma once

#include <string>

#include "platform/kvm/system.hpp"

namespace xenolith::kvm {

// For each feature: empty when it works, else one sentence saying why not.
struct GuestDebugProbe {
    std::string breakpoints;  // KVM_GUESTDBG_USE_SW_BP: an int3 exits as KVM_EXIT_DEBUG (#BP)
    std::string single_step;  // KVM_GUESTDBG_SINGLESTEP: one instruction, then #DB
};

// Runs the probe once per process, in scratch VMs at CPL 3 in 64-bit mode (the PV guests'
// state, which every KVM flavour runs); later calls return the first answer. Never throws.
const GuestDebugProbe& guest_debug_probe(const System& system);

}  // namespace xenolith::kvm
