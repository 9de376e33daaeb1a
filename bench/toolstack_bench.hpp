// The toolstack's figures (issue 4), each beside its bare-KVM floor from the same run:
//   create_to_running_warm_daemon: `create` sent to a running xenolithd until the guest's
//     first console bytes reach a console client; floor: KVM_CREATE_VM + RAM + vCPU + run
//     to the first exit, on one thread (bench/bare_vm.hpp);
//   creations_per_second: N idle guests created one after another through the control
//     API; floor: N bare VMs created and run to their first exit, all kept alive;
//   memory_per_idle_domain: with those N alive, host memory taken per domain (MemAvailable
//     drop) and the daemon's RSS per domain; floor: the same per bare VM.
// Those three need KVM; where it is missing they say "not measured: <reason>". On the
// process platform (the document's "process" object):
//   creations_per_second, memory_per_idle_domain: the same N idle guests with accel =
//     "process"; floor: N static idle processes posix_spawn'ed and kept alive;
//   xn_run_wall_time: `xn run examples/hello.cfg extra="sleep_ms=0"` (accel = "process")
//     as a whole process; floor: a static do-nothing program, spawned and waited for.
#pragma once

#include <cstdint>
#include <string>

#include "bench/report.hpp"

namespace xenolith::bench {

struct ToolstackBenchOptions {
    std::string daemon_path;  // xenolithd
    std::string guest_dir;    // holds `hello`
    unsigned create_reps = 21;
    unsigned create_warmups = 3;
    unsigned density = 1000;       // domains alive at once for the last two figures
    uint64_t idle_memory_mib = 8;  // each idle domain's RAM
    unsigned xn_run_reps = 21;
    std::string kvm_reason;      // empty: KVM runs guests here
    std::string process_reason;  // empty: the process platform runs guests here
};

// Adds its KVM figures to `benches` and its process-platform figures to `process`; failures
// go to `errors`, one line each.
void toolstack_benchmarks(const ToolstackBenchOptions& o, json& benches, json& process,
                          json& errors);

}  // namespace xenolith::bench
