// The toolstack's figures (issue 4), each beside its bare-KVM floor from the same run:
//   create_to_running_warm_daemon: `create` sent to a running xenolithd until the guest's
//     first console bytes reach a console client; floor: KVM_CREATE_VM + RAM + vCPU + run
//     to the first exit, on one thread (bench/bare_vm.hpp);
//   creations_per_second: N idle guests created one after another through the control
//     API; floor: N bare VMs created and run to their first exit, all kept alive;
//   memory_per_idle_domain: with those N alive, host memory taken per domain (MemAvailable
//     drop) and the daemon's RSS per domain; floor: the same per bare VM.
#pragma once

#include <cstdint>
#include <string>

#include "bench/report.hpp"

namespace xenolith::bench {

struct ToolstackBenchOptions {
    std::string daemon_path;   // xenolithd
    std::string guest_dir;     // holds `hello`
    unsigned create_reps = 21;
    unsigned create_warmups = 3;
    unsigned density = 1000;        // domains alive at once for the last two figures
    uint64_t idle_memory_mib = 8;   // each idle domain's RAM
};

// Adds its benchmarks to `benches`; failures go to `errors`, one line each.
void toolstack_benchmarks(const ToolstackBenchOptions& o, json& benches, json& errors);

}  // namespace xenolith::bench
