// hostile: a guest that tries, one mode at a time, to reach past its own domain. Every mode
// must end this domain as crashed, with a reason naming what it did, and nothing else:
// other domains and the hypervisor go on (tests/integration/hostile_test.cpp).
//
//   mode=syscall         a host system call with the `syscall` instruction (getpid)
//   mode=int80           a 32-bit host system call with `int $0x80`
//   mode=sysenter        the `sysenter` instruction
//   mode=read_outside    a load from `addr=` (default: just past RAM)
//   mode=write_outside   a store to `addr=` (default: just past RAM)
//   mode=jump            a jump to `addr=` (default: high in the address space, where a
//                        process's own code would be)
//   mode=hypercall_page  overwrites its hypercall page with `syscall`, then makes a hypercall
//   mode=upcall_frame    moves its stack pointer out of RAM with an event pending, then exits
//                        to the hypervisor: the upcall frame cannot be written
#include <pumice/cpu.hpp>
#include <pumice/pumice.hpp>

using namespace pumice;

namespace {

uint64_t ram_end() {
    return xen_start_info().nr_pages * 4096;
}

[[noreturn]] void host_syscall() {
    asm volatile("mov $39, %%eax\n\tsyscall" ::: "rax", "rcx", "r11", "memory");
    panic("hostile: the host system call returned");
}

[[noreturn]] void int80() {
    asm volatile("mov $20, %%eax\n\tint $0x80" ::: "rax", "memory");
    panic("hostile: int $0x80 returned");
}

[[noreturn]] void sysenter() {
    asm volatile("sysenter" ::: "memory");
    panic("hostile: sysenter returned");
}

[[noreturn]] void read_at(uint64_t addr) {
    uint64_t v = *reinterpret_cast<volatile uint64_t*>(addr);
    panic("hostile: read 0x%lx from 0x%lx outside RAM", v, addr);
}

[[noreturn]] void write_at(uint64_t addr) {
    *reinterpret_cast<volatile uint64_t*>(addr) = 0x0badc0de;
    panic("hostile: wrote to 0x%lx outside RAM", addr);
}

[[noreturn]] void jump_to(uint64_t addr) {
    asm volatile("jmp *%0" ::"r"(addr) : "memory");
    __builtin_unreachable();
}

[[noreturn]] void poison_hypercall_page() {
    // `syscall` at every stub: the next hypercall runs a host system call instead.
    for (int i = 0; i < 4096; i += 2) {
        hypercall_page[i] = static_cast<char>(0x0f);
        hypercall_page[i + 1] = static_cast<char>(0x05);
    }
    hv::console_io(CONSOLEIO_write, 21, "hostile: unreachable\n");
    panic("hostile: a hypercall through the poisoned page returned");
}

[[noreturn]] void bad_upcall_frame() {
    // Upcalls masked while an event is made pending by hand, then a stack pointer no frame
    // can be written below, then upcalls unmasked and a hypercall made inline (no `call`:
    // the stack is gone): on the way back to the guest the hypervisor delivers the upcall.
    // No timer: one that fired before the stack moved would be delivered on the good stack.
    vcpu_info* vi = this_cpu().vcpu;
    vi->evtchn_upcall_mask = 1;
    vi->evtchn_upcall_pending = 1;
    const uint64_t bad = ram_end() + (64 << 20);
    asm volatile(
        "mov %0, %%rsp\n\t"
        "movb $0, (%1)\n\t"  // evtchn_upcall_mask = 0
        "xor %%edi, %%edi\n\t"
        "mov %2, %%eax\n\t"
        "out %%eax, %3\n\t"  // xen_version(XENVER_version)
        "1: pause\n\tjmp 1b" ::"r"(bad),
        "r"(&vi->evtchn_upcall_mask), "i"(__HYPERVISOR_xen_version), "i"(XENOLITH_HYPERCALL_PORT)
        : "memory", "rax", "rdi");
    __builtin_unreachable();
}

}  // namespace

int main() {
    const char* mode = cmdline::get_str("mode", "syscall");
    printf("hostile: mode %s\n", mode);
    if (!strcmp(mode, "syscall")) host_syscall();
    if (!strcmp(mode, "int80")) int80();
    if (!strcmp(mode, "sysenter")) sysenter();
    if (!strcmp(mode, "read_outside")) read_at(cmdline::get_u64("addr", ram_end()));
    if (!strcmp(mode, "write_outside")) write_at(cmdline::get_u64("addr", ram_end()));
    if (!strcmp(mode, "jump")) jump_to(cmdline::get_u64("addr", 0x7f0000000000ull));
    if (!strcmp(mode, "hypercall_page")) poison_hypercall_page();
    if (!strcmp(mode, "upcall_frame")) bad_upcall_frame();
    panic("hostile: unknown mode %s", mode);
}
