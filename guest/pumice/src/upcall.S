/* The event upcall (docs/guest-abi.md, "Events"). The hypervisor has set upcall_mask,
 * written [RFLAGS, RIP, RSP] of the interrupted context at
 * RSP = interrupted RSP - XENOLITH_UPCALL_FRAME_OFFSET (below its red zone), and jumped here.
 * The interrupted code may be anywhere, so every general and SSE register is preserved. */
#include <abi/xenolith.h>
#include "asm_constants.h"

  .text
  .globl pumice_upcall_entry
  .type pumice_upcall_entry, @function
pumice_upcall_entry:
  push %rax
  push %rbx
  push %rcx
  push %rdx
  push %rsi
  push %rdi
  push %rbp
  push %r8
  push %r9
  push %r10
  push %r11
  push %r12
  push %r13
  push %r14
  push %r15
  mov %rsp, %rbx              /* callee-saved: where the GPRs are */
  sub $512, %rsp              /* fxsave64 area, 16-byte aligned */
  and $-16, %rsp
  fxsave64 (%rsp)
  cld                         /* the C++ ABI expects DF clear */

1:
  call pumice_handle_events   /* RSP is 16-byte aligned here */
  /* Unmask, then look again: an event that arrived while masked set upcall_pending
   * but was not delivered. xchg is locked, so the store to the mask is ordered before
   * the load of pending (the hypervisor does the mirror image). */
  mov %gs:CPU_VCPU, %rax
  xor %ecx, %ecx
  xchgb %cl, VCPU_INFO_UPCALL_MASK(%rax)
  cmpb $0, VCPU_INFO_UPCALL_PENDING(%rax)
  je 2f
  movb $1, VCPU_INFO_UPCALL_MASK(%rax)
  jmp 1b

  /* From here on events are unmasked: a new upcall lands below the current RSP and
   * everything still needed lies above it, so nesting is safe. */
2:
  fxrstor64 (%rsp)
  mov %rbx, %rsp
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %r11
  pop %r10
  pop %r9
  pop %r8
  pop %rbp
  pop %rdi
  pop %rsi
  pop %rdx
  pop %rcx
  pop %rbx
  pop %rax
  popfq                       /* frame[0]: interrupted RFLAGS */
  ret $XENOLITH_UPCALL_RET_POP /* frame[1]: RIP; then RSP = interrupted RSP */
  .size pumice_upcall_entry, . - pumice_upcall_entry

  .section .note.GNU-stack, "", @progbits
