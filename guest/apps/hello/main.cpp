// hello: the smallest useful Pumice app. Prints the domain's shape, sleeps on a timer,
// and exits with the status given on the command line.
#include <pumice/pumice.hpp>

using namespace pumice;

int main() {
    printf("Hello from Pumice!\n");
    uint64_t memory_kib = xen_start_info().nr_pages * mem::kPageSize / 1024;
    printf("hello: vcpus=%u memory=%llu KiB cmdline='%s'\n", smp::count(),
           static_cast<unsigned long long>(memory_kib), cmdline::raw());

    uint64_t sleep_ms = cmdline::get_u64("sleep_ms", 50);
    uint64_t start = time::now_ns();
    sleep_ns(sleep_ms * time::kNsPerMs);
    uint64_t slept_us = (time::now_ns() - start) / time::kNsPerUs;
    printf("hello: slept %llu us\n", static_cast<unsigned long long>(slept_us));

    int code = static_cast<int>(cmdline::get_i64("exit", 0));
    printf("hello: exit %d\n", code);
    return code;
}
