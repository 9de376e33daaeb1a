// Hypercall wrappers: `call hypercall_page + nr * 32` with arguments in RDI, RSI, RDX,
// R10, R8 and the result in RAX (negative Xen errno on failure). See docs/guest-abi.md.
#pragma once

#include <pumice/xen.hpp>

// The page the hypervisor fills with stubs; reserved in src/entry.S.
extern "C" char hypercall_page[];

namespace pumice::hv {

// Xen clobbers RCX and R11 and may clobber argument registers, so every argument register
// is an in/out operand. The ABI keeps a 128-byte red zone below RSP that a leaf function
// may be using: the `call` would push its return address there, so step over it first.
template <unsigned Nr>
inline long hypercall(uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0,
                      uint64_t a5 = 0) {
    static_assert(Nr * XENOLITH_HYPERCALL_STUB_SIZE < 4096, "hypercall number out of range");
    long ret;
    register uint64_t r10 asm("r10") = a4;
    register uint64_t r8 asm("r8") = a5;
    asm volatile(
        "lea -%c[red](%%rsp), %%rsp\n\t"
        "call hypercall_page + %c[off]\n\t"
        "lea %c[red](%%rsp), %%rsp"
        : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8)
        : [off] "i"(Nr * XENOLITH_HYPERCALL_STUB_SIZE), [red] "i"(XENOLITH_UPCALL_RED_ZONE)
        : "rcx", "r11", "memory", "cc");
    return ret;
}

inline long sched_op(int cmd, void* arg) {
    return hypercall<__HYPERVISOR_sched_op>(cmd, reinterpret_cast<uint64_t>(arg));
}
inline long event_channel_op(int cmd, void* arg) {
    return hypercall<__HYPERVISOR_event_channel_op>(cmd, reinterpret_cast<uint64_t>(arg));
}
inline long vcpu_op(int cmd, unsigned vcpu, void* arg) {
    return hypercall<__HYPERVISOR_vcpu_op>(cmd, vcpu, reinterpret_cast<uint64_t>(arg));
}
inline long callback_op(int cmd, const void* arg) {
    return hypercall<__HYPERVISOR_callback_op>(cmd, reinterpret_cast<uint64_t>(arg));
}
inline long console_io(int cmd, unsigned count, const char* buf) {
    return hypercall<__HYPERVISOR_console_io>(cmd, count, reinterpret_cast<uint64_t>(buf));
}
inline long xen_version(int cmd, void* arg) {
    return hypercall<__HYPERVISOR_xen_version>(cmd, reinterpret_cast<uint64_t>(arg));
}
inline long grant_table_op(unsigned cmd, void* uop, unsigned count) {
    return hypercall<__HYPERVISOR_grant_table_op>(cmd, reinterpret_cast<uint64_t>(uop), count);
}
inline long set_timer_op(uint64_t deadline_ns) {
    return hypercall<__HYPERVISOR_set_timer_op>(deadline_ns);
}

}  // namespace pumice::hv
