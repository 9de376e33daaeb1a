/* The control-socket protocol between the process platform and its stub (xenolith-stub).
 *
 * Plain C: the stub is freestanding. One SOCK_SEQPACKET message each way, in order:
 *   stub -> platform: a StubHello (setup done, thread ids) or a failure (err_step != 0);
 *   platform -> stub: a StubGo header followed by the seccomp filter's BPF instructions.
 * EOF instead of "go" makes the stub exit. After "go" the stub has no descriptors left, so
 * a failure while sealing is reported as its exit status (XENOLITH_STUB_EXIT_BASE + step). */
#ifndef XENOLITH_PLATFORM_PROCESS_STUB_PROTOCOL_H
#define XENOLITH_PLATFORM_PROCESS_STUB_PROTOCOL_H

#include <stdint.h>

/* The descriptors the stub is started with. */
#define XENOLITH_STUB_RAM_FD 3
#define XENOLITH_STUB_CONTROL_FD 4

/* Arguments: argv[1] = RAM base (hex), argv[2] = RAM end (hex), argv[3] = vCPU count. */
#define XENOLITH_STUB_ARGC 4

#define XENOLITH_STUB_MAX_VCPUS 128
/* The filter the stub can receive, in BPF instructions (libseccomp's is ~20 here). */
#define XENOLITH_STUB_MAX_FILTER 512

/* The top of the 47-bit user address space (TASK_SIZE_MAX with 4-level paging): the stub
 * unmaps [RAM end, this) so that nothing but guest RAM is left in it. */
#define XENOLITH_STUB_USER_TOP 0x7ffffffff000ull

#define XENOLITH_STUB_EXIT_BASE 64

/* What the stub was doing when it failed (err_step, or exit status - EXIT_BASE). */
enum xenolith_stub_step {
    XENOLITH_STUB_OK = 0,
    XENOLITH_STUB_STEP_ARGS = 1,
    XENOLITH_STUB_STEP_MAP_RAM = 2,
    XENOLITH_STUB_STEP_DROP_PRIVILEGES = 3,
    XENOLITH_STUB_STEP_THREADS = 4,
    XENOLITH_STUB_STEP_HELLO = 5,
    XENOLITH_STUB_STEP_GO = 6,
    XENOLITH_STUB_STEP_CLOSE_FDS = 7,
    XENOLITH_STUB_STEP_NO_NEW_PRIVS = 8,
    XENOLITH_STUB_STEP_SECCOMP = 9,
    XENOLITH_STUB_STEP_UNMAP = 10,
};

struct xenolith_stub_hello {
    int32_t err_step; /* xenolith_stub_step: 0 when setup succeeded */
    int32_t err_errno;
    uint32_t nr_threads;
    int32_t tids[XENOLITH_STUB_MAX_VCPUS]; /* tids[0] is the stub's main thread */
    /* A userfaultfd of the stub's memory (its descriptor number in the stub, which the
     * platform copies with pidfd_getfd before "go"), handshaken for write-protect faults
     * that raise SIGBUS; -1 when the kernel refused, with the errno in uffd_errno. Guest
     * page-write events use it (docs/vmi.md). */
    int32_t uffd;
    int32_t uffd_errno;
    /* A second userfaultfd, handshaken for asynchronous write-protection (the kernel
     * resolves the faults itself and PAGEMAP_SCAN reports the pages written): live
     * migration's dirty log. A range of memory can be registered with one userfaultfd
     * only, so the platform registers RAM with one or the other. -1 when the kernel refused
     * (before Linux 6.7), with the errno in dirty_uffd_errno; the guest runs regardless. */
    int32_t dirty_uffd;
    int32_t dirty_uffd_errno;
};

struct xenolith_stub_go {
    uint32_t nr_filter; /* BPF instructions (struct sock_filter) following this header */
    uint32_t pad;
};

#endif
