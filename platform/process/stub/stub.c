/* xenolith-stub: the process a process-platform domain's guest runs in.
 *
 * Freestanding (no libc): static-pie, so that the kernel loads it high, away from guest RAM
 * at low addresses, and with no C library state (TLS, rseq, signal handlers) that would point
 * into memory the stub unmaps. See protocol.h for the conversation with the platform.
 *
 * Setup: map guest RAM at VA = guest-physical, drop privileges, start vcpus-1 threads that
 * block in the kernel forever, send the thread ids, wait for "go". Then seal: close every
 * descriptor, no_new_privs, a seccomp filter on all threads whose only allowed call is the
 * munmap that follows, and that munmap of everything above RAM (this code included).
 * Returning from it faults: that SIGSEGV is the "stub ready" stop the tracer waits for. */
#include <asm/unistd.h>
#include <linux/capability.h>
#include <linux/fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/ioctl.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"
#include "uffd_wp_async.h"

#define NOBODY 65534

/* ---- raw system calls --------------------------------------------------------------- */

static long syscall6(long nr, long a, long b, long c, long d, long e, long f) {
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#define SYS(nr, ...) SYS_N(nr, __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define SYS_N(nr, a, b, c, d, e, f, ...) \
    syscall6(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static void __attribute__((noreturn)) exit_group(int status) {
    for (;;) SYS(__NR_exit_group, status);
}

/* The compiler may emit calls to these even when freestanding. */
void* memset(void* dst, int c, size_t n) {
    unsigned char* d = dst;
    while (n--) *d++ = (unsigned char)c;
    return dst;
}
void* memcpy(void* dst, const void* src, size_t n) {
    unsigned char* d = dst;
    const unsigned char* s = src;
    while (n--) *d++ = *s++;
    return dst;
}

/* ---- entry -------------------------------------------------------------------------- */

__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  xor %ebp, %ebp\n"
    "  mov %rsp, %rdi\n" /* argc, argv[], NULL, envp[] */
    "  and $-16, %rsp\n"
    "  call stub_main\n"
    "  hlt\n");

/* long spawn_blocked_thread(unsigned long flags, void* stack_top, int* word):
 * clone(); the child never returns to C (it has no usable stack frame) but loops in
 * FUTEX_WAIT on `word`, which stays 0 forever, until its tracer redirects it into the guest.
 * The word is carried into the child in r9, which clone preserves. */
long spawn_blocked_thread(unsigned long flags, void* stack_top, int* word);
__asm__(
    ".text\n"
    "spawn_blocked_thread:\n"
    "  mov %rdx, %r9\n"
    "  xor %edx, %edx\n"   /* parent_tid */
    "  xor %r10d, %r10d\n" /* child_tid */
    "  xor %r8d, %r8d\n"   /* tls */
    "  mov $56, %eax\n"    /* __NR_clone */
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jnz 1f\n"
    "2:\n"
    "  mov %r9, %rdi\n"
    "  mov $128, %esi\n" /* FUTEX_WAIT_PRIVATE */
    "  xor %edx, %edx\n"
    "  xor %r10d, %r10d\n"
    "  mov $202, %eax\n" /* __NR_futex */
    "  syscall\n"
    "  jmp 2b\n"
    "1:\n"
    "  ret\n");

/* ---- state (in .bss: no relocations needed) ----------------------------------------- */

#define THREAD_STACK 256
static struct xenolith_stub_hello hello;
static struct sock_filter filter[XENOLITH_STUB_MAX_FILTER];
static unsigned char go_buffer[sizeof(struct xenolith_stub_go) + sizeof filter];
static unsigned char thread_stacks[XENOLITH_STUB_MAX_VCPUS][THREAD_STACK]
    __attribute__((aligned(16)));
static int never_changes;

/* Reports a setup failure to the platform (best effort) and exits. */
static void __attribute__((noreturn)) fail(int step, long rc) {
    hello.err_step = step;
    hello.err_errno = rc < 0 ? (int)-rc : 0;
    SYS(__NR_write, XENOLITH_STUB_CONTROL_FD, &hello, sizeof hello);
    exit_group(XENOLITH_STUB_EXIT_BASE + step);
}

static int parse_hex(const char* s, uint64_t* out) {
    uint64_t v = 0;
    if (!s || !*s) return -1;
    for (; *s; s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else
            return -1;
        if (v >> 60) return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* ---- setup -------------------------------------------------------------------------- */

static void map_ram(uint64_t base, uint64_t end) {
    /* NOREPLACE: never clobber the stub itself should RAM reach that high. */
    long rc = SYS(__NR_mmap, base, end - base, PROT_READ | PROT_WRITE | PROT_EXEC,
                  MAP_SHARED | MAP_FIXED_NOREPLACE, XENOLITH_STUB_RAM_FD, base);
    if (rc < 0) fail(XENOLITH_STUB_STEP_MAP_RAM, rc);
    if ((uint64_t)rc != base) fail(XENOLITH_STUB_STEP_MAP_RAM, -17 /* EEXIST */);
    SYS(__NR_close, XENOLITH_STUB_RAM_FD); /* the mapping keeps the memory */
}

/* Credentials are per thread: done before the vCPU threads exist, so they inherit them. */
static void drop_privileges(void) {
    long rc;
    if (SYS(__NR_geteuid, 0) == 0) {
        for (long cap = 0; cap < 64; cap++)
            if (SYS(__NR_prctl, PR_CAPBSET_DROP, cap) < 0) break; /* EINVAL past the last */
        if ((rc = SYS(__NR_setgroups, 0, 0)) < 0 ||
            (rc = SYS(__NR_setresgid, NOBODY, NOBODY, NOBODY)) < 0 ||
            (rc = SYS(__NR_setresuid, NOBODY, NOBODY, NOBODY)) < 0)
            fail(XENOLITH_STUB_STEP_DROP_PRIVILEGES, rc);
    }
    SYS(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
    if ((rc = SYS(__NR_capset, &header, data)) < 0) fail(XENOLITH_STUB_STEP_DROP_PRIVILEGES, rc);
}

/* A userfaultfd with `features`, or -errno. User-mode faults only: that is all the guest
 * makes, and it needs no privilege (vm.unprivileged_userfaultfd may be 0). */
static long open_userfaultfd(uint64_t features) {
    long fd = SYS(__NR_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    if (fd < 0) return fd;
    struct uffdio_api api;
    memset(&api, 0, sizeof api);
    api.api = UFFD_API;
    api.features = features;
    long rc = SYS(__NR_ioctl, fd, UFFDIO_API, &api);
    if (rc < 0) {
        SYS(__NR_close, fd);
        return rc;
    }
    return fd;
}

/* The platform's two userfaultfds; a refusal of either is not fatal: the guest runs, only
 * what needs it is unavailable, and the platform says why when asked for it.
 * - Page-write events: SIGBUS instead of a handler thread (nothing in the stub could serve
 *   one), write-protection of shared memory (guest RAM is a memfd).
 * - The dirty log: asynchronous write-protection, which the kernel resolves by itself,
 *   never stopping the guest; unpopulated pages are protected too. */
static void open_userfaultfds(void) {
    long fd = open_userfaultfd(UFFD_FEATURE_SIGBUS | UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
    hello.uffd = fd < 0 ? -1 : (int32_t)fd;
    hello.uffd_errno = fd < 0 ? (int32_t)-fd : 0;
    fd = open_userfaultfd(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
                          UFFD_FEATURE_WP_UNPOPULATED);
    hello.dirty_uffd = fd < 0 ? -1 : (int32_t)fd;
    hello.dirty_uffd_errno = fd < 0 ? (int32_t)-fd : 0;
}

static void start_threads(uint32_t vcpus) {
    const unsigned long flags =
        CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
    hello.tids[0] = (int32_t)SYS(__NR_gettid, 0);
    for (uint32_t i = 1; i < vcpus; i++) {
        long tid = spawn_blocked_thread(flags, thread_stacks[i] + THREAD_STACK, &never_changes);
        if (tid < 0) fail(XENOLITH_STUB_STEP_THREADS, tid);
        hello.tids[i] = (int32_t)tid;
    }
    hello.nr_threads = vcpus;
}

/* Returns the filter's length; EOF (the platform gave up or died) ends the stub. */
static uint32_t wait_for_go(void) {
    long n = SYS(__NR_read, XENOLITH_STUB_CONTROL_FD, go_buffer, sizeof go_buffer);
    if (n == 0) exit_group(0);
    if (n < (long)sizeof(struct xenolith_stub_go))
        exit_group(XENOLITH_STUB_EXIT_BASE + XENOLITH_STUB_STEP_GO);
    struct xenolith_stub_go go;
    memcpy(&go, go_buffer, sizeof go);
    if (go.nr_filter == 0 || go.nr_filter > XENOLITH_STUB_MAX_FILTER ||
        (uint64_t)n != sizeof go + go.nr_filter * sizeof(struct sock_filter))
        exit_group(XENOLITH_STUB_EXIT_BASE + XENOLITH_STUB_STEP_GO);
    memcpy(filter, go_buffer + sizeof go, go.nr_filter * sizeof(struct sock_filter));
    return go.nr_filter;
}

/* No failure report channel is left after close_range: the exit status says the step. */
static void seal(uint32_t nr_filter, uint64_t ram_end) {
    long rc;
    if ((rc = SYS(__NR_close_range, 0, ~0u, 0)) < 0)
        exit_group(XENOLITH_STUB_EXIT_BASE + XENOLITH_STUB_STEP_CLOSE_FDS);
    if ((rc = SYS(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0)
        exit_group(XENOLITH_STUB_EXIT_BASE + XENOLITH_STUB_STEP_NO_NEW_PRIVS);
    struct sock_fprog prog = {(unsigned short)nr_filter, filter};
    if ((rc = SYS(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog)) != 0)
        exit_group(XENOLITH_STUB_EXIT_BASE + XENOLITH_STUB_STEP_SECCOMP);
    /* The last system call: it removes this code, so returning from it faults. */
    SYS(__NR_munmap, ram_end, XENOLITH_STUB_USER_TOP - ram_end);
    /* Unreachable unless munmap failed; exit_group is not allowed any more, so this traps
     * (SIGSYS), which the tracer reports instead of the expected SIGSEGV. */
    exit_group(XENOLITH_STUB_EXIT_BASE + XENOLITH_STUB_STEP_UNMAP);
}

void __attribute__((noreturn, used)) stub_main(uint64_t* sp) {
    long argc = (long)sp[0];
    char** argv = (char**)(sp + 1);
    uint64_t base = 0, end = 0, vcpus = 0;
    if (argc != XENOLITH_STUB_ARGC || parse_hex(argv[1], &base) || parse_hex(argv[2], &end) ||
        parse_hex(argv[3], &vcpus) || base == 0 || (base & 4095) || (end & 4095) || end <= base ||
        end >= XENOLITH_STUB_USER_TOP || vcpus == 0 || vcpus > XENOLITH_STUB_MAX_VCPUS)
        fail(XENOLITH_STUB_STEP_ARGS, 0);
    map_ram(base, end);
    drop_privileges();
    open_userfaultfds();
    start_threads((uint32_t)vcpus);
    if (SYS(__NR_write, XENOLITH_STUB_CONTROL_FD, &hello, sizeof hello) != sizeof hello)
        exit_group(XENOLITH_STUB_EXIT_BASE + XENOLITH_STUB_STEP_HELLO);
    seal(wait_for_go(), end);
    exit_group(XENOLITH_STUB_EXIT_BASE + XENOLITH_STUB_STEP_UNMAP);
}
