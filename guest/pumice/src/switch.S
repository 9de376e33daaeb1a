/* Cooperative context switch. Threads switch only inside schedule(), a function call, so
 * only the SysV callee-saved registers need saving: no SSE register is callee-saved.
 *
 * void pumice_switch_context(uint64_t* save_rsp, uint64_t new_rsp) */
  .text
  .globl pumice_switch_context
  .type pumice_switch_context, @function
pumice_switch_context:
  push %rbp
  push %rbx
  push %r12
  push %r13
  push %r14
  push %r15
  mov %rsp, (%rdi)
  mov %rsi, %rsp
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %rbx
  pop %rbp
  ret                         /* a new thread "returns" into pumice_thread_main */
  .size pumice_switch_context, . - pumice_switch_context

  .section .note.GNU-stack, "", @progbits
