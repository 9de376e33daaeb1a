// debugee: a guest for the introspection tests (docs/vmi.md). It calls debugee_tick() once
// per round and prints its counter and debugee_message, so a debugger outside the guest can
// break in the function, read the counter and change the message, and the console shows
// that it did.
//   rounds=N     (default 1000000)  rounds before it exits with status 0
//   period_ms=N  (default 20)       sleep between rounds
//   selfpatch=N  (default 0: never)  after round N, overwrite a byte of its own code
//                (debugee_target's) and say so: the integrity monitor's demo (`xn vmi
//                protect`, docs/vmi.md)
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

// The code selfpatch overwrites: `mov $1, %eax; ret`, in assembly so that the byte it
// changes (the immediate, at +1) is known.
int debugee_target();
asm(".text\n"
    ".globl debugee_target\n"
    ".type debugee_target, @function\n"
    ".p2align 4\n"
    "debugee_target:\n"
    "  movl $1, %eax\n"
    "  ret\n"
    ".size debugee_target, . - debugee_target\n");

// The writer a monitor names: one store into the code above.
__attribute__((noinline)) void debugee_patch(uint8_t value) {
    reinterpret_cast<volatile uint8_t*>(&debugee_target)[1] = value;
}
}

int main() {
    const uint64_t rounds = cmdline::get_u64("rounds", 1000000);
    const uint64_t period_ns = cmdline::get_u64("period_ms", 20) * time::kNsPerMs;
    const uint64_t selfpatch = cmdline::get_u64("selfpatch", 0);
    printf("debugee: ready\n");
    for (uint64_t i = 1; i <= rounds; ++i) {
        if (i == selfpatch + 1 && selfpatch != 0) {
            const int before = debugee_target();
            debugee_patch(static_cast<uint8_t>(before + 1));
            printf("debugee: patched its code at %p: debugee_target returned %d, now %d\n",
                   reinterpret_cast<void*>(&debugee_target), before, debugee_target());
        }
        debugee_tick(i);
        printf("debugee: tick %llu message=%s\n", static_cast<unsigned long long>(debugee_counter),
               debugee_message);
        sleep_ns(period_ns);
    }
    printf("debugee: done\n");
    return 0;
}
