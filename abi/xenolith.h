/* Xenolith's own additions to the Xen PV guest ABI.
 *
 * Everything a guest shares with Xen comes from Debian's libxen-dev headers (<xen/...>);
 * this file holds only the few constants that are Xenolith's own, so that the hypervisor
 * and Pumice agree on them from one place. Plain C, usable from freestanding guest code
 * and from assembly. Documented in docs/guest-abi.md. */
#ifndef XENOLITH_ABI_XENOLITH_H
#define XENOLITH_ABI_XENOLITH_H

/* I/O port the hypercall-page stubs write the hypercall number to (`out %eax, $port`). */
#define XENOLITH_HYPERCALL_PORT 0x58

/* Event-channel notify port: `out %eax, $XENOLITH_NOTIFY_PORT` with EAX = a local event
 * channel port does what EVTCHNOP_send does. When a backend in the hypervisor process is
 * bound to that channel the write is caught in the host kernel (KVM_IOEVENTFD) and costs no
 * exit to user space; otherwise it exits and is handled as EVTCHNOP_send. Guests detect
 * Xenolith by XENVER_extraversion starting with "-xenolith"; elsewhere they use the
 * hypercall. */
#define XENOLITH_NOTIFY_PORT 0x5c

/* Introspection probe port (PVH, KVM): `out %al, $XENOLITH_PROBE_PORT` in a trampoline the
 * hypervisor itself places in the guest (docs/vmi.md, "System-call trace") exits to the
 * hypervisor with the guest's registers as they were; no guest code writes it. */
#define XENOLITH_PROBE_PORT 0x57

/* Bytes between hypercall-page stubs, as in Xen. */
#define XENOLITH_HYPERCALL_STUB_SIZE 32

/* SCHEDOP extension: record the guest's exit status (an unsigned int pointed to by the
 * second argument) to be reported with a later SCHEDOP_shutdown(SHUTDOWN_poweroff).
 * Xen itself answers -ENOSYS, so a guest can call it unconditionally. */
#define XENOLITH_SCHEDOP_exit_status 0x5800

/* Event upcall frame, written by the hypervisor below the interrupted stack's red zone:
 *   frame = interrupted RSP - XENOLITH_UPCALL_FRAME_OFFSET
 *   frame[0] = interrupted RFLAGS, frame[1] = interrupted RIP, frame[2] = interrupted RSP
 * The callback returns with `popfq; ret $XENOLITH_UPCALL_RET_POP` once it has restored
 * every other register and cleared vcpu_info.evtchn_upcall_mask. */
#define XENOLITH_UPCALL_RED_ZONE 128
#define XENOLITH_UPCALL_FRAME_SIZE 24
#define XENOLITH_UPCALL_FRAME_OFFSET (XENOLITH_UPCALL_RED_ZONE + XENOLITH_UPCALL_FRAME_SIZE)
#define XENOLITH_UPCALL_RET_POP (XENOLITH_UPCALL_FRAME_OFFSET - 16)

/* Size of the builder-provided boot stack. */
#define XENOLITH_BOOT_STACK_SIZE (64 * 1024)

#endif
