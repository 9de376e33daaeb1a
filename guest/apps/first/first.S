/* first: the smallest possible guest, with no Pumice at all. Its entry makes one
 * hypercall and powers off, so `make bench` can time domain creation to first hypercall
 * against a bare KVM program. */
#include <abi/xenolith.h>
#include <xen/xen.h>
#include <xen/elfnote.h>
#include <pumice/xen_notes.inc>
#include "asm_constants.h"

XEN_NOTES _start, "first", "0.1"
XEN_HYPERCALL_PAGE

  .section .text.entry, "ax", @progbits
  .globl _start
  .type _start, @function
_start:
  /* xen_version(XENVER_version, NULL): the measured first hypercall. */
  mov $XENVER_version, %edi
  xor %esi, %esi
  call hypercall_page + __HYPERVISOR_xen_version * XENOLITH_HYPERCALL_STUB_SIZE

  /* sched_op(SCHEDOP_shutdown, &(sched_shutdown_t){ SHUTDOWN_poweroff }) */
  mov $SCHEDOP_shutdown, %edi
  lea shutdown_request(%rip), %rsi
  call hypercall_page + __HYPERVISOR_sched_op * XENOLITH_HYPERCALL_STUB_SIZE
  ud2                         /* not reached; if it is, crash rather than spin */
  .size _start, . - _start

  .data
  .p2align 3
shutdown_request:             /* a sched_shutdown_t */
  .long SHUTDOWN_poweroff
  .fill SIZEOF_SCHED_SHUTDOWN - 4, 1, 0

  .section .note.GNU-stack, "", @progbits
