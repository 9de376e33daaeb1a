// Hypercalls as people read them: Xen's names for hypercall numbers, sub-operations and
// errno values (all from Debian's libxen-dev headers), and one line per call for
// `xn trace --hypercalls`.
#pragma once

#include <cstdint>
#include <string>

#include "hv/guest_access.hpp"
#include "hv/hypercall.hpp"

namespace xenolith::hv {

// "console_io" for __HYPERVISOR_console_io; nullptr for a number Xen does not define.
const char* hypercall_name(uint64_t nr);
// "EINVAL" for -XEN_EINVAL (the negative value a handler returns); nullptr otherwise.
const char* xen_errno_name(long result);
// `sched_op(shutdown, poweroff) = 0`: the name, the sub-operation by name, the arguments
// that matter (read through `guest` where they are a structure the call left unchanged), and
// the result, with its errno name when it is one. Guest strings are shown escaped and cut.
std::string describe_hypercall(uint64_t nr, const HypercallArgs& args, long result,
                               const GuestAccess& guest);

}  // namespace xenolith::hv
