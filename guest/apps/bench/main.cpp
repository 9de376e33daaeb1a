// bench: in-guest microbenchmarks for `make bench`.
//   mode=hypercall n=<N>  N xen_version(XENVER_version) round trips
//   mode=compute n=<N>    the shared compute kernel, to compare with the host
#include <pumice/pumice.hpp>

#include "common/compute_kernel.hpp"

using namespace pumice;

int main() {
    const char* mode = cmdline::get_str("mode", "hypercall");
    if (strcmp(mode, "hypercall") == 0) {
        uint64_t n = cmdline::get_u64("n", 10000);
        if (!n) n = 1;
        uint64_t start = time::now_ns();
        for (uint64_t i = 0; i < n; ++i) hv::xen_version(XENVER_version, nullptr);
        uint64_t ns = time::now_ns() - start;
        printf("bench: hypercall n=%llu ns_per_call=%llu\n", static_cast<unsigned long long>(n),
               static_cast<unsigned long long>(ns / n));
        return 0;
    }
    if (strcmp(mode, "compute") == 0) {
        uint64_t n = cmdline::get_u64("n", 100000000);
        uint64_t start = time::now_ns();
        uint64_t result = compute_kernel(n);
        uint64_t ns = time::now_ns() - start;
        printf("bench: compute n=%llu ns=%llu result=%llu\n", static_cast<unsigned long long>(n),
               static_cast<unsigned long long>(ns), static_cast<unsigned long long>(result));
        return 0;
    }
    printf("bench: unknown mode '%s' (hypercall, compute)\n", mode);
    return 2;
}
