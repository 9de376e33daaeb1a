// spin: a CPU hog for scheduler tests. Runs `seconds=` (default 1; or `ms=`) of integer
// work and reports progress every `report_ms=` (default 100).
#include <pumice/pumice.hpp>

#include "common/compute_kernel.hpp"

using namespace pumice;

int main() {
    uint64_t run_ms = cmdline::has("ms") ? cmdline::get_u64("ms", 1000)
                                         : cmdline::get_scaled("seconds", 1000, 1000);
    uint64_t report_ns = cmdline::get_u64("report_ms", 100) * time::kNsPerMs;
    if (!report_ns) report_ns = time::kNsPerMs;

    uint64_t start = time::now_ns();
    uint64_t end = start + run_ms * time::kNsPerMs;
    uint64_t next_report = start + report_ns;
    uint64_t iterations = 0;
    volatile uint64_t sink = 0;  // keeps the work from being optimized away
    for (;;) {
        sink = sink + compute_kernel(64);
        ++iterations;
        if ((iterations & 255) != 0) continue;  // the clock is cheap, but not free
        uint64_t now = time::now_ns();
        if (now >= next_report) {
            printf("spin: iter=%llu tsc=%llu ms=%llu\n",
                   static_cast<unsigned long long>(iterations),
                   static_cast<unsigned long long>(time::rdtsc()),
                   static_cast<unsigned long long>((now - start) / time::kNsPerMs));
            next_report += report_ns;
        }
        if (now >= end) break;
    }
    printf("spin: done iterations=%llu\n", static_cast<unsigned long long>(iterations));
    return 0;
}
