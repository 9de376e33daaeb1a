// Xen's scheduler and CPU-pool constants (XEN_SCHEDULER_*, XEN_SYSCTL_SCHED_RATELIMIT_*,
// XEN_SYSCTL_CSCHED_TSLICE_*, ARINC653_MAX_DOMAINS_PER_SCHEDULE) live in the tools-only
// domctl.h/sysctl.h. Those pull in hvm/save.h, which needs GNU anonymous structs, so only
// xenolith_sched's own .cpp files include this header (the target builds as gnu++20);
// public sched headers never do. __XEN_TOOLS__ comes from sched/CMakeLists.txt, because
// it must be set before the first <xen/xen.h> of a translation unit.
#pragma once

#ifndef __XEN_TOOLS__
#error "xen_sched_abi.hpp is for xenolith_sched's sources, which define __XEN_TOOLS__"
#endif
#include "abi/xen.hpp"

#include <xen/domctl.h>
#include <xen/sysctl.h>
