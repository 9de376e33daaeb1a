/* Pumice's entry points: vCPU 0 from the domain builder, secondaries from VCPUOP_up.
 * Both arrive at CPL 3 with a 16-byte-aligned RSP (docs/guest-abi.md). */
#include <xen/elfnote.h>
#include <pumice/xen_notes.inc>

XEN_NOTES _start, "Pumice", "0.1"
XEN_HYPERCALL_PAGE

  .section .text.entry, "ax", @progbits

/* RSI = start_info, RSP = top of the boot stack, other registers 0. */
  .globl _start
  .type _start, @function
_start:
  mov %rsi, %r12              /* keep start_info across the BSS clear */
  cld
  lea __bss_start(%rip), %rdi
  lea __bss_end(%rip), %rcx
  sub %rdi, %rcx
  xor %eax, %eax
  rep stosb
  mov %r12, %rdi
  xor %ebp, %ebp              /* terminate frame-pointer walks */
  call pumice_start           /* never returns */
  ud2
  .size _start, . - _start

/* Secondary vCPUs: RDI = this vCPU's Cpu (also passed as gs_base_kernel), RSP = its
 * stack, set up by smp::start_all(). */
  .globl pumice_secondary_entry
  .type pumice_secondary_entry, @function
pumice_secondary_entry:
  wrgsbase %rdi
  cld
  xor %ebp, %ebp
  call pumice_secondary_start /* never returns */
  ud2
  .size pumice_secondary_entry, . - pumice_secondary_entry

  .section .note.GNU-stack, "", @progbits
