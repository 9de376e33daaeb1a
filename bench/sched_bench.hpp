// The scheduler's figures (issue 5), each beside a floor measured in the same run:
//   sched_decision_cost: the VcpuGate hand-off of one host CPU between two vCPU-like
//     threads; floor: the same hand-off between two plain threads through a mutex and a
//     condition variable. Beside it, per scheduler, the cost of one Dispatcher decision
//     (8 CPU-bound units on 2 CPUs, forced by yields), priced against the same floor.
//   wake_latency: per scheduler, the `wakelat` guest's timer expiry to its vCPU running
//     (p50, p99), in a CPU pool of that scheduler on one host CPU; floor: a plain host
//     thread on that CPU woken by clock_nanosleep(TIMER_ABSTIME) at the same deadlines.
#pragma once

#include <cstdint>
#include <string>

#include "bench/report.hpp"

namespace xenolith::hv {
class Hypervisor;
}

namespace xenolith::bench {

struct SchedBenchOptions {
    std::string guest_dir;        // holds `wakelat`
    unsigned decision_units = 8;  // CPU-bound units in the decision rig
    unsigned decision_cpus = 2;   // CPUs of its pool (simulated: no thread runs them)
    unsigned decisions = 20000;   // decisions per sample
    unsigned switches = 20000;    // hand-offs per thread per sample (so 2x switches)
    unsigned decision_reps = 9;
    unsigned wake_samples = 200;     // timer wake-ups per run
    unsigned wake_period_us = 2000;  // each timer is armed for now + this
    unsigned wake_reps = 3;          // runs per scheduler, each side
    uint64_t guest_memory_mib = 32;
};

// Adds its benchmarks to `benches`; failures go to `errors`, one line each.
void sched_benchmarks(hv::Hypervisor& hv, const SchedBenchOptions& o, json& benches, json& errors);

}  // namespace xenolith::bench
