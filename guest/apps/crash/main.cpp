// crash: faults on purpose so tests can check the crash path and its register dump.
// The faulting functions have C names so the dump shows them as written.
#include <pumice/pumice.hpp>

using namespace pumice;

namespace {
// Hides the null from the optimizer, which would otherwise turn the store into a trap
// of its own choosing.
template <typename T>
T* opaque(T* p) {
    asm volatile("" : "+r"(p));
    return p;
}
}  // namespace

extern "C" [[gnu::noinline]] void crash_null_deref() {
    volatile int* target = opaque<volatile int>(nullptr);
    *target = 0x0badc0de;
}

extern "C" [[gnu::noinline]] void crash_ud2() {
    asm volatile("ud2");
}

// The guest's own breakpoint instruction: with no debugger, or one that did not plant it,
// it is an exception like any other.
extern "C" [[gnu::noinline]] void crash_int3() {
    asm volatile("int3");
}

int main() {
    const char* mode = cmdline::get_str("mode", "null");
    bool ud2 = strcmp(mode, "ud2") == 0;
    bool int3 = strcmp(mode, "int3") == 0;
    printf("crash: about to fault (%s)\n", ud2 ? "ud2" : int3 ? "int3" : "null");
    if (ud2)
        crash_ud2();
    else if (int3)
        crash_int3();
    else
        crash_null_deref();
    panic("crash: the fault did not happen");
}
