// debugee: a guest for the introspection tests (docs/vmi.md). It calls debugee_tick() once
// per round and prints its counter and debugee_message, so a debugger outside the guest can
// break in the function, read the counter and change the message, and the console shows
// that it did.
//   rounds=N     (default 1000000)  rounds before it exits with status 0
//   period_ms=N  (default 20)       sleep between rounds
#include <pumice/pumice.hpp>

using namespace pumice;

extern "C" {
// Globals a debugger reads and writes by name.
volatile uint64_t debugee_counter = 0;
char debugee_message[64] = "unchanged";

// Where a debugger breaks: not inlined, so that the symbol is the code.
__attribute__((noinline)) void debugee_tick(uint64_t round) {
    debugee_counter = round;
    asm volatile("" ::: "memory");
}
}

int main() {
    const uint64_t rounds = cmdline::get_u64("rounds", 1000000);
    const uint64_t period_ns = cmdline::get_u64("period_ms", 20) * time::kNsPerMs;
    printf("debugee: ready\n");
    for (uint64_t i = 1; i <= rounds; ++i) {
        debugee_tick(i);
        printf("debugee: tick %llu message=%s\n", static_cast<unsigned long long>(debugee_counter),
               debugee_message);
        sleep_ns(period_ns);
    }
    printf("debugee: done\n");
    return 0;
}
