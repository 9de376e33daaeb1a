#include "platform/process/decode.hpp"

#include <linux/audit.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace xenolith::platform::process {

namespace {

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

uint64_t& gpr(user_regs_struct& r, int reg) {
    // ModRM register numbering.
    unsigned long long* const table[16] = {&r.rax, &r.rcx, &r.rdx, &r.rbx, &r.rsp, &r.rbp,
                                           &r.rsi, &r.rdi, &r.r8,  &r.r9,  &r.r10, &r.r11,
                                           &r.r12, &r.r13, &r.r14, &r.r15};
    return reinterpret_cast<uint64_t&>(*table[reg & 15]);
}

std::string describe_sigsegv(const siginfo_t& si, uint64_t rip) {
    if (si.si_code == SI_KERNEL) return "guest exception: general protection";
    uint64_t addr = reinterpret_cast<uint64_t>(si.si_addr);
    std::string what = "guest page fault at " + hex(addr);
    if (addr == rip) what += " (instruction fetch)";
    if (si.si_code == SEGV_ACCERR) what += " (access not permitted)";
    return what;
}

std::string describe_sigfpe(const siginfo_t& si) {
    switch (si.si_code) {
        case FPE_INTDIV:
            return "guest exception: divide error";
        case FPE_INTOVF:
            return "guest exception: overflow";
        case FPE_FLTDIV:
        case FPE_FLTOVF:
        case FPE_FLTUND:
        case FPE_FLTRES:
        case FPE_FLTINV:
        case FPE_FLTSUB:
            return "guest exception: floating-point error";
        default:
            return "guest exception: arithmetic fault";
    }
}

std::string describe_sigsys(const siginfo_t& si) {
    // si_arch tells a native `syscall` from a 32-bit entry (int $0x80, sysenter).
    const char* arch = si.si_arch == AUDIT_ARCH_X86_64 ? "x86_64"
                       : si.si_arch == AUDIT_ARCH_I386 ? "i386: int $0x80 or sysenter"
                                                       : "unknown architecture";
    return "host system call " + std::to_string(si.si_syscall) + " (" + arch + ")";
}

}  // namespace

std::optional<uint8_t> out_eax_imm8_port(const uint8_t* code, size_t avail) {
    if (avail < 2 || code[0] != 0xe7) return std::nullopt;
    return code[1];
}

std::optional<FsGsBaseInsn> decode_fsgsbase(const uint8_t* code, size_t avail) {
    size_t i = 0;
    if (avail < 4 || code[i++] != 0xf3) return std::nullopt;
    uint8_t rex = 0;
    if ((code[i] & 0xf0) == 0x40) rex = code[i++];
    if (avail < i + 3 || code[i] != 0x0f || code[i + 1] != 0xae) return std::nullopt;
    uint8_t modrm = code[i + 2];
    int op = (modrm >> 3) & 7;
    if ((modrm >> 6) != 3 || op > 3) return std::nullopt;
    FsGsBaseInsn insn;
    insn.write = op >= 2;
    insn.gs = op & 1;
    insn.wide = rex & 8;
    insn.reg = (modrm & 7) | ((rex & 1) << 3);
    insn.length = i + 3;
    return insn;
}

void emulate_fsgsbase(const FsGsBaseInsn& insn, user_regs_struct& regs) {
    unsigned long long& base = insn.gs ? regs.gs_base : regs.fs_base;
    uint64_t& reg = gpr(regs, insn.reg);
    const uint64_t mask = insn.wide ? ~uint64_t{0} : 0xffffffffu;
    if (insn.write)
        base = reg & mask;
    else
        reg = base & mask;  // a 32-bit destination is zero-extended, as on hardware
    regs.rip += insn.length;
}

std::string describe_fault(const siginfo_t& si, uint64_t rip) {
    switch (si.si_signo) {
        case SIGSEGV:
            return describe_sigsegv(si, rip);
        case SIGBUS:
            return "guest bus error at " + hex(reinterpret_cast<uint64_t>(si.si_addr));
        case SIGILL:
            return "guest exception: invalid opcode";
        case SIGFPE:
            return describe_sigfpe(si);
        case SIGTRAP:
            return si.si_code == SI_KERNEL ? "guest exception: breakpoint (int3)"
                                           : "guest exception: debug trap";
        case SIGSYS:
            return describe_sigsys(si);
        default:
            return std::string("guest stopped by signal ") + std::to_string(si.si_signo) + " (" +
                   strsignal(si.si_signo) + ")";
    }
}

}  // namespace xenolith::platform::process
