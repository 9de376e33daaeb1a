// What a stopped stub thread did: the few guest instructions the tracer must recognise
// and the words a guest fault is reported with. Pure functions, tested on their own.
#pragma once

#include <signal.h>
#include <sys/user.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace xenolith::platform::process {

// `out %eax, $imm8` (0xe7 imm8): the port, when `code` (with `avail` bytes) starts with it.
std::optional<uint8_t> out_eax_imm8_port(const uint8_t* code, size_t avail);

// rdfsbase, rdgsbase, wrfsbase, wrgsbase: F3 [REX] 0F AE /0../3, register operand.
struct FsGsBaseInsn {
    bool write = false;  // wr*base
    bool gs = false;     // *gsbase
    bool wide = false;   // REX.W: 64-bit operand
    int reg = 0;         // 0 = rax ... 15 = r15 (ModRM.rm with REX.B)
    size_t length = 0;
};
std::optional<FsGsBaseInsn> decode_fsgsbase(const uint8_t* code, size_t avail);

// Emulates `insn` on `regs` (fs_base/gs_base and the register operand) and steps past it.
void emulate_fsgsbase(const FsGsBaseInsn& insn, user_regs_struct& regs);

// One sentence for a kernel-generated fault signal (si_code > 0): "guest page fault at
// 0x7fff00000000", "host system call 39 (x86_64)", ...
std::string describe_fault(const siginfo_t& si, uint64_t rip);

}  // namespace xenolith::platform::process
