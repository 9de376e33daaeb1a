/* xenolith-bench-true: a static do-nothing program (exit_group(0)), the floor of the
 * `xn run` wall time. */
  .text
  .globl _start
_start:
  mov $231, %eax /* exit_group */
  xor %edi, %edi
  syscall
  ud2

  .section .note.GNU-stack, "", @progbits
