// wakelat: timer wake-up latency as the guest sees it, for `make bench` (wake_latency).
//   n=<N> (200)            samples
//   period_us=<D> (2000)   each sample arms the one-shot timer for now + D
// Each sample: deadline = now + D, time::arm_timer(deadline) (VCPUOP_set_singleshot_timer,
// or set_timer_op), SCHEDOP_block until the timer event has been delivered, then
// latency = pvclock now - deadline. This is the vCPU itself blocking, as Pumice's idle loop
// does, without a guest thread switch, so the figure is the hypervisor's path: the timer
// expiring on the host, the scheduler waking the vCPU, the vCPU thread entering KVM_RUN
// and the upcall. Prints
//   wakelat: n=.. period_us=.. p50_ns=.. p99_ns=.. min_ns=.. max_ns=.. mean_ns=.. early=..
// `early` counts wake-ups seen before the deadline (recorded as 0; there should be none).
#include <pumice/pumice.hpp>

using namespace pumice;

namespace {

void sort(uint64_t* v, uint64_t n) {  // insertion sort: n is a few hundred
    for (uint64_t i = 1; i < n; ++i) {
        uint64_t x = v[i], j = i;
        for (; j > 0 && v[j - 1] > x; --j) v[j] = v[j - 1];
        v[j] = x;
    }
}

// Nearest rank, as the host side computes it (bench/report.cpp).
uint64_t percentile(const uint64_t* sorted, uint64_t n, uint64_t p) {
    uint64_t rank = (p * n + 99) / 100;
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

// Blocks the vCPU until system time reaches `deadline`. Events are masked around the
// check so that the timer event cannot be consumed by an upcall between the check and
// SCHEDOP_block (which unmasks and sleeps atomically in the hypervisor).
void block_until(uint64_t deadline) {
    for (;;) {
        events::mask_local();
        if (time::now_ns() >= deadline) break;
        hv::sched_op(SCHEDOP_block, nullptr);
    }
}

}  // namespace

int main() {
    uint64_t n = cmdline::get_u64("n", 200);
    uint64_t period_us = cmdline::get_u64("period_us", 2000);
    if (n == 0) n = 1;
    if (n > 100000) n = 100000;
    if (period_us == 0) period_us = 1;
    auto* samples = static_cast<uint64_t*>(malloc(n * sizeof(uint64_t)));
    if (!samples) {
        printf("wakelat: out of memory for %llu samples\n", static_cast<unsigned long long>(n));
        return 1;
    }
    uint64_t early = 0;
    for (uint64_t i = 0; i < n; ++i) {
        uint8_t saved = events::mask_local();
        uint64_t deadline = time::now_ns() + period_us * time::kNsPerUs;
        long rc = time::arm_timer(deadline);
        if (rc < 0) {
            events::restore_local(saved);
            printf("wakelat: arming the timer failed: %ld\n", rc);
            return 1;
        }
        block_until(deadline);
        uint64_t now = time::now_ns();
        events::restore_local(saved);
        if (now < deadline) ++early;
        samples[i] = now >= deadline ? now - deadline : 0;
    }
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; ++i) sum += samples[i];
    sort(samples, n);
    printf(
        "wakelat: n=%llu period_us=%llu p50_ns=%llu p99_ns=%llu min_ns=%llu max_ns=%llu "
        "mean_ns=%llu early=%llu\n",
        static_cast<unsigned long long>(n), static_cast<unsigned long long>(period_us),
        static_cast<unsigned long long>(percentile(samples, n, 50)),
        static_cast<unsigned long long>(percentile(samples, n, 99)),
        static_cast<unsigned long long>(samples[0]),
        static_cast<unsigned long long>(samples[n - 1]), static_cast<unsigned long long>(sum / n),
        static_cast<unsigned long long>(early));
    free(samples);
    return 0;
}
