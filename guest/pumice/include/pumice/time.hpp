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
// Makes sure the one-shot timer fires by deadline_ns: arms it unless the deadline it was
// last armed with is still ahead of `now_ns` and no later than deadline_ns (the timer then
// wakes the vCPU early, or on time, without another hypercall).
long arm_timer_by(uint64_t deadline_ns, uint64_t now_ns);

}  // namespace pumice::time
