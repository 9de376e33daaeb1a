// Hypercall dispatch: one table indexed by Xen hypercall number, as in Xen. Handlers run
// on the calling vCPU's thread, return a Xen errno (negative) or a result, and treat every
// argument as hostile: pointers are guest-virtual and go through GuestAccess.
#pragma once

#include <array>
#include <cstdint>

#include "hv/guest_access.hpp"

namespace xenolith::hv {

class Domain;
class Vcpu;

using HypercallArgs = std::array<uint64_t, 5>;  // RDI, RSI, RDX, R10, R8

struct HypercallContext {
    Domain& domain;
    Vcpu& vcpu;
    GuestAccess guest;
    bool in_multicall = false;
};

using HypercallHandler = long (*)(HypercallContext&, const HypercallArgs&);

long dispatch_hypercall(HypercallContext& ctx, uint64_t nr, const HypercallArgs& args);

// The handlers, one file each under hv/hypercalls/.
long do_xen_version(HypercallContext&, const HypercallArgs&);
long do_console_io(HypercallContext&, const HypercallArgs&);
long do_sched_op(HypercallContext&, const HypercallArgs&);
long do_set_timer_op(HypercallContext&, const HypercallArgs&);
long do_vcpu_op(HypercallContext&, const HypercallArgs&);
long do_callback_op(HypercallContext&, const HypercallArgs&);
long do_memory_op(HypercallContext&, const HypercallArgs&);
long do_event_channel_op(HypercallContext&, const HypercallArgs&);
long do_grant_table_op(HypercallContext&, const HypercallArgs&);
long do_hvm_op(HypercallContext&, const HypercallArgs&);
long do_multicall(HypercallContext&, const HypercallArgs&);
long do_sched_op_compat(HypercallContext&, const HypercallArgs&);
long do_event_channel_op_compat(HypercallContext&, const HypercallArgs&);

}  // namespace xenolith::hv
