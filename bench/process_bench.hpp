// The process platform's figures (platform/process/), each beside a floor made of the bare
// host mechanism underneath it, measured in the same run (docs/benchmarks.md, "The process
// platform"):
//   hypercall_round_trip: the `bench` guest's hypercall loop; floor: a ptraced child
//     process doing `out %eax, $0x58` in a loop, its tracer doing waitpid, GETREGS,
//     RIP += 2, SETREGS, CONT;
//   notify_round_trip: a guest notifies a port bound to a backend in this process and
//     spins until the backend has answered with a store; floor: a process writes an eventfd
//     and spins until the same responder answers;
//   create_to_first_hypercall: the `first` guest from create_domain to its first hypercall
//     exit; floor: posix_spawn of a static program whose first act is that trap;
//   guest_compute: the `bench` guest's compute loop; floor: the same loop natively.
// The toolstack's process-platform figures (density, `xn run`) are in toolstack_bench.hpp.
#pragma once

#include <cstdint>
#include <string>

#include "bench/report.hpp"
#include "hv/hypervisor.hpp"

namespace xenolith::bench {

struct ProcessBenchOptions {
    std::string guest_dir;  // first, bench
    unsigned create_reps = 41;
    unsigned create_warmups = 5;
    uint64_t create_memory_mib = 16;
    uint64_t hypercall_n = 5000;
    unsigned hypercall_reps = 9;
    uint64_t notify_rounds = 1000;
    unsigned notify_reps = 9;
    uint64_t compute_n = 100'000'000;
    unsigned compute_reps = 7;
    uint64_t guest_memory_mib = 32;
};

// The floor programs (bench/floors/): beside this executable, else in the build tree.
std::string floor_program(const char* name);

// Adds the figures to `figures` (the document's "process" object); failures go to `errors`
// as "process.<figure>: <what>".
void process_benchmarks(hv::Hypervisor& hv, const ProcessBenchOptions& o, json& figures,
                        json& errors);

}  // namespace xenolith::bench
