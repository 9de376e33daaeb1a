/* xenolith-bench-idle: a static process that sleeps until killed (pause(2) in a loop), the
 * floor of the process platform's density figures: spawned N times, all kept alive. */
  .text
  .globl _start
_start:
  mov $34, %eax  /* pause */
  syscall
  jmp _start

  .section .note.GNU-stack, "", @progbits
