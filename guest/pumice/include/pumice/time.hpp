// Time: the pvclock in vcpu_info.time (monotonic ns of system time), the wall clock from
// shared_info, and the raw TSC.
#pragma once

#include <stdint.h>

namespace pumice::time {

inline constexpr uint64_t kNsPerUs = 1000;
inline constexpr uint64_t kNsPerMs = 1000 * kNsPerUs;
inline constexpr uint64_t kNsPerSec = 1000 * kNsPerMs;

// Monotonic system time in nanoseconds, from the calling vCPU's pvclock.
uint64_t now_ns();
// Nanoseconds since the Unix epoch.
uint64_t wallclock_ns();

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

// Arms the calling vCPU's one-shot timer (VIRQ_TIMER) for an absolute system time.
long arm_timer(uint64_t deadline_ns);

}  // namespace pumice::time
