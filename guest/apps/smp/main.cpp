// smp: brings up every vCPU, runs a share of work on each, and waits for all of them.
// `need=<n>` fails the run (exit 1) when fewer than n vCPUs came up.
#include <pumice/pumice.hpp>

#include "common/compute_kernel.hpp"

using namespace pumice;

namespace {

struct Work {
    unsigned vcpu;
    uint64_t rounds;
    uint64_t sum;
};

void run_share(void* arg) {
    auto* w = static_cast<Work*>(arg);
    PUMICE_ASSERT(smp::current_id() == w->vcpu);
    w->sum = compute_kernel(w->rounds + w->vcpu);
    printf("smp: vcpu %u done sum=%llx\n", w->vcpu, static_cast<unsigned long long>(w->sum));
}

}  // namespace

int main() {
    unsigned need = static_cast<unsigned>(cmdline::get_u64("need", 1));
    unsigned n = smp::start_all();
    if (n < need) {
        printf("smp: only %u vcpus, need %u\n", n, need);
        return 1;
    }
    uint64_t rounds = cmdline::get_u64("rounds", 1000000);
    auto* work = new Work[n];
    auto** threads = new Thread*[n];
    for (unsigned i = 0; i < n; ++i) {
        work[i] = Work{i, rounds, 0};
        threads[i] = thread_create("smp-work", run_share, &work[i], i);
        PUMICE_ASSERT(threads[i] != nullptr);
    }
    for (unsigned i = 0; i < n; ++i) thread_join(threads[i]);
    printf("smp: all %u vcpus done\n", n);
    delete[] threads;
    delete[] work;
    return 0;
}
