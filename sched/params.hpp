// Scheduler parameters with Xen's defaults: per domain (XEN_DOMCTL_scheduler_op), per vCPU
// (RTDS's putvcpuinfo) and per pool (XEN_SYSCTL_scheduler_op). Each scheduler accepts its own
// alternative and rejects the others with SchedError(EINVAL). Valid ranges are checked by the
// scheduler that owns them and are listed in docs/schedulers.md.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "abi/xen.hpp"
#include "sched/clock.hpp"

namespace xenolith::sched {

// For schedulers without that kind of parameter (null, arinc653 per domain, ...).
struct NoParams {
    bool operator==(const NoParams&) const = default;
};

// credit: weight 1..65535 (relative share), cap in percent of one CPU, 0 = no cap, at most
// 100 per vCPU of the domain.
struct CreditParams {
    uint16_t weight = 256;
    uint16_t cap = 0;
    bool operator==(const CreditParams&) const = default;
};

// credit2: same meaning and ranges as credit.
struct Credit2Params {
    uint16_t weight = 256;
    uint16_t cap = 0;
    bool operator==(const Credit2Params&) const = default;
};

// rtds, per vCPU: `budget_us` of CPU every `period_us`; 10 <= budget <= period. With
// extratime the vCPU may also run, at lower priority, once its budget is spent.
struct RtdsParams {
    uint32_t period_us = 10000;
    uint32_t budget_us = 4000;
    bool extratime = true;
    bool operator==(const RtdsParams&) const = default;
};

using DomainParams = std::variant<NoParams, CreditParams, Credit2Params, RtdsParams>;

// credit, per pool: tslice 1..1000 ms; ratelimit 0 (off) or 100..500000 us and at most the
// tslice; migration delay 0..100000 us (a vCPU that ran on a CPU more recently than this is
// "cache hot" there and not stolen by another CPU).
struct CreditGlobals {
    uint32_t tslice_ms = 30;
    uint32_t ratelimit_us = 1000;
    uint32_t vcpu_migr_delay_us = 0;
    bool operator==(const CreditGlobals&) const = default;
};

// How credit2 groups a pool's CPUs into runqueues (Xen's credit2_runqueue=).
enum class RunqueueGrouping { cpu, core, socket, node, all };
const char* to_string(RunqueueGrouping g);

// credit2, per pool: ratelimit as for credit; runqueue grouping (default socket).
struct Credit2Globals {
    uint32_t ratelimit_us = 1000;
    RunqueueGrouping runqueue = RunqueueGrouping::socket;
    bool operator==(const Credit2Globals&) const = default;
};

// arinc653, per pool: the major frame is repeated forever; inside it the minor frames
// (windows) follow each other in order, each giving one vCPU the CPU for `runtime`. Time
// after the last window, and any window whose vCPU cannot run, is idle. Xen names the
// domain by UUID; here it is the domain id.
struct Arinc653Window {
    domid_t domain = 0;
    uint32_t vcpu = 0;
    Time runtime = 0;  // ns
    bool operator==(const Arinc653Window&) const = default;
};
struct Arinc653Schedule {
    Time major_frame = 0;  // ns
    std::vector<Arinc653Window> windows;
    bool operator==(const Arinc653Schedule&) const = default;
};

using GlobalParams = std::variant<NoParams, CreditGlobals, Credit2Globals, Arinc653Schedule>;

}  // namespace xenolith::sched
