// xsbench: xenstore over the guest's own ring, timed by the guest.
//   n=<N> (default 2000): N reads, then N writes, of data/bench
// prints `xsbench: n=<N> read_ns=<per op> write_ns=<per op>` and exits 0 (1 without a store
// or on any failed call).
#include <pumice/pumice.hpp>
#include <pumice/xenstore.hpp>

using namespace pumice;

int main() {
    if (!xenstore::available()) {
        printf("xsbench: no xenstore\n");
        return 1;
    }
    const uint64_t n = cmdline::get_u64("n", 2000);
    if (long rc = xenstore::write("data/bench", "0123456789abcdef"); rc < 0) {
        printf("xsbench: write failed: %ld\n", rc);
        return 1;
    }
    char buf[64];
    uint64_t t0 = time::now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        if (long rc = xenstore::read("data/bench", buf, sizeof buf); rc < 0) {
            printf("xsbench: read failed: %ld\n", rc);
            return 1;
        }
    }
    uint64_t t1 = time::now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        if (long rc = xenstore::write("data/bench", "fedcba9876543210"); rc < 0) {
            printf("xsbench: write failed: %ld\n", rc);
            return 1;
        }
    }
    uint64_t t2 = time::now_ns();
    uint64_t per = n ? n : 1;
    printf("xsbench: n=%llu read_ns=%llu write_ns=%llu\n", static_cast<unsigned long long>(n),
           static_cast<unsigned long long>((t1 - t0) / per), static_cast<unsigned long long>((t2 - t1) / per));
    return 0;
}
