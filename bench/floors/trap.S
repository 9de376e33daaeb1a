/* xenolith-bench-trap: the floor of the process platform's create_to_first_hypercall. A
 * static process whose first act is the trap a guest's first hypercall takes: `out` to
 * the hypercall port, which raises #GP at CPL 3 and kills the process with SIGSEGV. It
 * first makes itself non-dumpable (one prctl), so that the kill writes no core dump. */
  .text
  .globl _start
_start:
  mov $157, %eax /* prctl */
  mov $4, %edi   /* PR_SET_DUMPABLE */
  xor %esi, %esi /* SUID_DUMP_DISABLE */
  syscall
  mov $17, %eax  /* __HYPERVISOR_xen_version, as the `first` guest's */
  out %eax, $0x58
  ud2

  .section .note.GNU-stack, "", @progbits
