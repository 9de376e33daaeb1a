// The introspection figures (issue 13) on the process platform, each beside its floor from
// the same run (docs/benchmarks.md, "Introspection"):
//   breakpoint_round_trip: a debugger's breakpoint hit, seen and resumed: the `debugee`
//     guest sits at a software breakpoint (vmi::Introspector), and each resume runs the
//     int3 again, stops the vCPU and wakes the client's wait; floor: a forked child looping
//     on int3 under ptrace, its tracer doing waitpid, GETREGS, RIP -= 1, SETREGS, CONT;
//   hypercall_rate_traced: the `bench` guest's hypercall loop with the domain's hypercall
//     trace on and drained by a reader thread; floor: the same loop untraced.
#pragma once

#include <cstdint>
#include <string>

#include "bench/report.hpp"
#include "hv/hypervisor.hpp"

namespace xenolith::bench {

struct VmiBenchOptions {
    std::string guest_dir;  // debugee, bench
    uint64_t breakpoint_hits = 2000;
    unsigned breakpoint_reps = 5;
    uint64_t hypercall_n = 5000;
    unsigned hypercall_reps = 7;
    uint64_t guest_memory_mib = 32;
};

json vmi_config(const VmiBenchOptions& o);
// Adds the figures to `figures` (the document's "vmi" object); failures go to `errors` as
// "vmi.<figure>: <what>".
void vmi_benchmarks(hv::Hypervisor& hv, const VmiBenchOptions& o, json& figures, json& errors);

}  // namespace xenolith::bench
