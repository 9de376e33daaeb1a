// kvm_probe: what the KVM on this host can do for Xenolith's PVH guests.
//
// Built by tests/nested/run.sh with `gcc -static -O2 -pthread` and run inside the nested test
// host (QEMU TCG with an AMD-V CPU, Debian's kernel with kvm-amd). It also runs on any other
// host with /dev/kvm. One line per check:
//
//   PROBE <name> ok <detail>
//   PROBE <name> FAIL <detail>
//
// then `PROBE-SUMMARY pass=N fail=M`; the exit status is 0 only when every check passed.
//
// Checks:
//   open, api        /dev/kvm opens; KVM_GET_API_VERSION is 12
//   caps             KVM_CHECK_EXTENSION values (information; never fails)
//   supported_cpuid  KVM_GET_SUPPORTED_CPUID with buffers of 32, 64, ... entries until one is
//                    big enough (E2BIG before)
//   vmmcall_plain    a CPL-0 `vmmcall` with no breakpoint: KVM handles it as a KVM hypercall
//                    (unknown number: RAX = -KVM_ENOSYS) and the guest goes on to its `out`
//   vmmcall_hwbp32   32-bit flat protected mode, no paging: a hardware execute breakpoint
//                    (DR0 = X, DR7 = L0) on the `vmmcall` at X gives KVM_EXIT_DEBUG with pc X,
//                    exception 1; RIP = X+3 skips it and the `out` exits as KVM_EXIT_IO; the
//                    loop traps again (many rounds, timed)
//   vmmcall_hwbp64   the same in 64-bit long mode with paging, the code run at its
//                    0xffffffff80000000 alias (identity + high alias page tables)
//   hwbp_nop32, swbp_int3_32, singlestep32
//                    diagnostics for the above: a hardware breakpoint on a `nop`, an `int3`
//                    with KVM_GUESTDBG_USE_SW_BP, single-stepping (KVM_GUESTDBG_SINGLESTEP)
//   lapic_msi        KVM_CREATE_IRQCHIP; the guest enables its LAPIC (SVR bit 8), loads an
//                    IDT with a 32-bit interrupt gate for vector 0xf3, `sti; hlt`; another
//                    thread sends KVM_SIGNAL_MSI (0xfee00000, data 0xf3) 50 ms later; the
//                    handler's `out` to port 0x81 must exit
//   msr_filter       KVM_CAP_X86_USER_SPACE_MSR with KVM_MSR_EXIT_REASON_FILTER, and
//                    KVM_X86_SET_MSR_FILTER denying writes to MSR 0x40000000: the guest's
//                    `wrmsr` exits as KVM_EXIT_X86_WRMSR; after the reply it runs on
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (2u << 20)
#define GDT_ADDR 0x800u
#define CODE_ADDR 0x1000u
#define HANDLER_ADDR 0x1800u
#define IDT_ADDR 0x2000u
#define TSS_ADDR 0x3000u
#define STACK_TOP 0x8000u
#define PML4_ADDR 0x10000u
#define HIGH_ALIAS 0xffffffff80000000ull

#define SEL_CODE32 0x08
#define SEL_DATA 0x10
#define SEL_TSS 0x18
#define SEL_CODE64 0x28

#define RUN_TIMEOUT_S 20
static int g_run_timeout = RUN_TIMEOUT_S;

static int g_pass, g_fail;
static const char* g_kvm_path = "/dev/kvm";

static void report(const char* name, int ok, const char* fmt, ...) {
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("PROBE %s %s %s\n", name, ok ? "ok" : "FAIL", detail);
    fflush(stdout);
    if (ok)
        g_pass++;
    else
        g_fail++;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_alarm(int sig) {
    (void)sig;
}

struct vm {
    int sys, fd, vcpu;
    struct kvm_run* run;
    size_t run_size;
    uint8_t* mem;
};

static const char* exit_name(uint32_t r) {
    switch (r) {
        case KVM_EXIT_UNKNOWN:
            return "UNKNOWN";
        case KVM_EXIT_EXCEPTION:
            return "EXCEPTION";
        case KVM_EXIT_IO:
            return "IO";
        case KVM_EXIT_HYPERCALL:
            return "HYPERCALL";
        case KVM_EXIT_DEBUG:
            return "DEBUG";
        case KVM_EXIT_HLT:
            return "HLT";
        case KVM_EXIT_MMIO:
            return "MMIO";
        case KVM_EXIT_SHUTDOWN:
            return "SHUTDOWN";
        case KVM_EXIT_FAIL_ENTRY:
            return "FAIL_ENTRY";
        case KVM_EXIT_INTR:
            return "INTR";
        case KVM_EXIT_INTERNAL_ERROR:
            return "INTERNAL_ERROR";
        case KVM_EXIT_SYSTEM_EVENT:
            return "SYSTEM_EVENT";
        case KVM_EXIT_X86_RDMSR:
            return "X86_RDMSR";
        case KVM_EXIT_X86_WRMSR:
            return "X86_WRMSR";
        default:
            return "other";
    }
}

static void vm_close(struct vm* v) {
    if (v->run && v->run != MAP_FAILED) munmap(v->run, v->run_size);
    if (v->mem && v->mem != MAP_FAILED) munmap(v->mem, MEM_SIZE);
    if (v->vcpu >= 0) close(v->vcpu);
    if (v->fd >= 0) close(v->fd);
    if (v->sys >= 0) close(v->sys);
    memset(v, 0, sizeof *v);
    v->sys = v->fd = v->vcpu = -1;
}

// Steps before the vCPU exists (irqchip, MSR filter) are done by the caller between
// vm_open and vm_add_vcpu.
static int vm_open(struct vm* v, char* err, size_t errlen) {
    memset(v, 0, sizeof *v);
    v->sys = v->fd = v->vcpu = -1;
    v->sys = open(g_kvm_path, O_RDWR | O_CLOEXEC);
    if (v->sys < 0) {
        snprintf(err, errlen, "open %s: %s", g_kvm_path, strerror(errno));
        return -1;
    }
    v->fd = ioctl(v->sys, KVM_CREATE_VM, 0);
    if (v->fd < 0) {
        snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
        return -1;
    }
    v->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v->mem == MAP_FAILED) {
        snprintf(err, errlen, "mmap guest memory: %s", strerror(errno));
        return -1;
    }
    struct kvm_userspace_memory_region r = {.slot = 0,
                                            .guest_phys_addr = 0,
                                            .memory_size = MEM_SIZE,
                                            .userspace_addr = (uintptr_t)v->mem};
    if (ioctl(v->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int vm_add_vcpu(struct vm* v, char* err, size_t errlen) {
    v->vcpu = ioctl(v->fd, KVM_CREATE_VCPU, 0);
    if (v->vcpu < 0) {
        snprintf(err, errlen, "KVM_CREATE_VCPU: %s", strerror(errno));
        return -1;
    }
    int sz = ioctl(v->sys, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz <= 0) {
        snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
        return -1;
    }
    v->run_size = (size_t)sz;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        snprintf(err, errlen, "mmap kvm_run: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void put64(uint8_t* mem, uint32_t addr, uint64_t val) {
    memcpy(mem + addr, &val, 8);
}

// GDT: null, 0x08 flat 32-bit code, 0x10 flat data, 0x18 32-bit busy TSS, 0x28 64-bit code.
static void write_gdt(uint8_t* mem) {
    put64(mem, GDT_ADDR + 0x00, 0);
    put64(mem, GDT_ADDR + SEL_CODE32, 0x00cf9b000000ffffull);
    put64(mem, GDT_ADDR + SEL_DATA, 0x00cf93000000ffffull);
    put64(mem, GDT_ADDR + SEL_TSS,
          0x67ull | ((uint64_t)(TSS_ADDR & 0xffffff) << 16) | (0x8bull << 40) |
              ((uint64_t)(TSS_ADDR >> 24) << 56));
    put64(mem, GDT_ADDR + 0x20, 0);  // upper half of a 64-bit TSS descriptor
    put64(mem, GDT_ADDR + SEL_CODE64, 0x00af9b000000ffffull);
}

static void seg(struct kvm_segment* s, uint16_t sel, uint8_t type, int code64) {
    memset(s, 0, sizeof *s);
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = sel;
    s->type = type;
    s->present = 1;
    s->dpl = 0;
    s->s = 1;
    s->g = 1;
    s->db = code64 ? 0 : 1;
    s->l = code64 ? 1 : 0;
}

// 32-bit flat protected mode as the PVH boot ABI describes it: CR0 = PE|ET, paging off,
// flat CS/DS/SS, TR a busy 32-bit TSS. long_mode: 64-bit, paging on with the tables at
// PML4_ADDR (identity for the first 2 MiB and the same 2 MiB at HIGH_ALIAS).
static int set_mode(struct vm* v, int long_mode, uint64_t rip, char* err, size_t errlen) {
    struct kvm_sregs sr;
    if (ioctl(v->vcpu, KVM_GET_SREGS, &sr) < 0) {
        snprintf(err, errlen, "KVM_GET_SREGS: %s", strerror(errno));
        return -1;
    }
    write_gdt(v->mem);
    seg(&sr.cs, long_mode ? SEL_CODE64 : SEL_CODE32, 0xb, long_mode);
    seg(&sr.ds, SEL_DATA, 0x3, 0);
    sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
    memset(&sr.tr, 0, sizeof sr.tr);
    sr.tr.base = TSS_ADDR;
    sr.tr.limit = 0x67;
    sr.tr.selector = SEL_TSS;
    sr.tr.type = 0xb;
    sr.tr.present = 1;
    memset(&sr.ldt, 0, sizeof sr.ldt);
    sr.ldt.type = 2;
    sr.ldt.present = 1;
    sr.ldt.unusable = 1;
    sr.gdt.base = GDT_ADDR;
    sr.gdt.limit = 0x30 - 1;
    sr.idt.base = IDT_ADDR;
    sr.idt.limit = 256 * 8 - 1;
    if (long_mode) {
        // PML4[0] -> PDPT0[0] -> PD; PML4[511] -> PDPT1[510] -> PD; PD[0] = 2 MiB page at 0.
        uint32_t pml4 = PML4_ADDR, pdpt0 = PML4_ADDR + 0x1000, pdpt1 = PML4_ADDR + 0x2000,
                 pd = PML4_ADDR + 0x3000;
        memset(v->mem + pml4, 0, 0x4000);
        put64(v->mem, pml4 + 0 * 8, pdpt0 | 3);
        put64(v->mem, pml4 + 511 * 8, pdpt1 | 3);
        put64(v->mem, pdpt0 + 0 * 8, pd | 3);
        put64(v->mem, pdpt1 + 510 * 8, pd | 3);
        put64(v->mem, pd + 0 * 8, 0x0 | 0x83);
        sr.cr3 = pml4;
        sr.cr4 = 0x20;        // PAE
        sr.cr0 = 0x80010033;  // PG|WP|NE|ET|MP|PE
        sr.efer = 0x500;      // LME|LMA
    } else {
        sr.cr0 = 0x11;  // PE|ET
        sr.cr3 = 0;
        sr.cr4 = 0;
        sr.efer = 0;
    }
    if (ioctl(v->vcpu, KVM_SET_SREGS, &sr) < 0) {
        snprintf(err, errlen, "KVM_SET_SREGS: %s", strerror(errno));
        return -1;
    }
    struct kvm_regs r;
    memset(&r, 0, sizeof r);
    r.rflags = 0x2;
    r.rip = rip;
    r.rsp = long_mode ? HIGH_ALIAS + STACK_TOP : STACK_TOP;
    if (ioctl(v->vcpu, KVM_SET_REGS, &r) < 0) {
        snprintf(err, errlen, "KVM_SET_REGS: %s", strerror(errno));
        return -1;
    }
    return 0;
}

// One KVM_RUN, bounded by RUN_TIMEOUT_S (SIGALRM makes it return EINTR).
static int run_once(struct vm* v, char* err, size_t errlen) {
    alarm((unsigned)g_run_timeout);
    int rc = ioctl(v->vcpu, KVM_RUN, 0);
    int e = errno;
    alarm(0);
    if (rc < 0) {
        if (e == EINTR)
            snprintf(err, errlen, "KVM_RUN still running after %d s (no exit)", g_run_timeout);
        else
            snprintf(err, errlen, "KVM_RUN: %s", strerror(e));
        return -1;
    }
    return 0;
}

static void describe_exit(struct vm* v, char* buf, size_t len) {
    struct kvm_run* r = v->run;
    struct kvm_regs regs;
    unsigned long long rip = 0;
    if (ioctl(v->vcpu, KVM_GET_REGS, &regs) == 0) rip = regs.rip;
    switch (r->exit_reason) {
        case KVM_EXIT_IO: {
            uint32_t val = 0;
            memcpy(&val, (uint8_t*)r + r->io.data_offset, r->io.size <= 4 ? r->io.size : 4);
            snprintf(buf, len, "KVM_EXIT_IO port 0x%x %s size %u value 0x%x (rip 0x%llx)",
                     r->io.port, r->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", r->io.size, val,
                     rip);
            break;
        }
        case KVM_EXIT_DEBUG:
            snprintf(buf, len, "KVM_EXIT_DEBUG exception %u pc 0x%llx dr6 0x%llx dr7 0x%llx",
                     r->debug.arch.exception, (unsigned long long)r->debug.arch.pc,
                     (unsigned long long)r->debug.arch.dr6, (unsigned long long)r->debug.arch.dr7);
            break;
        case KVM_EXIT_FAIL_ENTRY:
            snprintf(buf, len, "KVM_EXIT_FAIL_ENTRY reason 0x%llx (rip 0x%llx)",
                     (unsigned long long)r->fail_entry.hardware_entry_failure_reason, rip);
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            snprintf(buf, len, "KVM_EXIT_INTERNAL_ERROR suberror %u (rip 0x%llx)",
                     r->internal.suberror, rip);
            break;
        case KVM_EXIT_MMIO:
            snprintf(buf, len, "KVM_EXIT_MMIO addr 0x%llx %s len %u (rip 0x%llx)",
                     (unsigned long long)r->mmio.phys_addr, r->mmio.is_write ? "write" : "read",
                     r->mmio.len, rip);
            break;
        case KVM_EXIT_X86_RDMSR:
        case KVM_EXIT_X86_WRMSR:
            snprintf(buf, len, "KVM_EXIT_%s index 0x%x data 0x%llx reason %u (rip 0x%llx)",
                     exit_name(r->exit_reason), r->msr.index, (unsigned long long)r->msr.data,
                     r->msr.reason, rip);
            break;
        default:
            snprintf(buf, len, "exit %u (%s) (rip 0x%llx)", r->exit_reason,
                     exit_name(r->exit_reason), rip);
    }
}

static int expect_io(struct vm* v, uint16_t port, uint32_t* value, char* err, size_t errlen) {
    if (run_once(v, err, errlen) < 0) return -1;
    struct kvm_run* r = v->run;
    if (r->exit_reason != KVM_EXIT_IO || r->io.port != port || r->io.direction != KVM_EXIT_IO_OUT) {
        char d[256];
        describe_exit(v, d, sizeof d);
        snprintf(err, errlen, "expected an out to port 0x%x, got %s", port, d);
        return -1;
    }
    if (value) {
        *value = 0;
        memcpy(value, (uint8_t*)r + r->io.data_offset, r->io.size <= 4 ? r->io.size : 4);
    }
    return 0;
}

// ---- (a) /dev/kvm, API version, capabilities -------------------------------------------

static int probe_basics(void) {
    int fd = open(g_kvm_path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        report("open", 0, "%s: %s", g_kvm_path, strerror(errno));
        return -1;
    }
    report("open", 1, "%s", g_kvm_path);
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    report("api", api == 12, "KVM_GET_API_VERSION=%d", api);
    static const struct {
        const char* name;
        long cap;
    } caps[] = {
        {"XEN_HVM", KVM_CAP_XEN_HVM},
        {"X86_USER_SPACE_MSR", KVM_CAP_X86_USER_SPACE_MSR},
        {"X86_MSR_FILTER", KVM_CAP_X86_MSR_FILTER},
        {"IRQCHIP", KVM_CAP_IRQCHIP},
        {"SET_GUEST_DEBUG", KVM_CAP_SET_GUEST_DEBUG},
        {"SIGNAL_MSI", KVM_CAP_SIGNAL_MSI},
        {"SYNC_REGS", KVM_CAP_SYNC_REGS},
        {"IOEVENTFD", KVM_CAP_IOEVENTFD},
        {"IRQFD", KVM_CAP_IRQFD},
        {"GUEST_DEBUG_HW_BPS", KVM_CAP_GUEST_DEBUG_HW_BPS},
        {"IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT},
        {"SPLIT_IRQCHIP", KVM_CAP_SPLIT_IRQCHIP},
        {"EXIT_HYPERCALL", KVM_CAP_EXIT_HYPERCALL},
        {"NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS},
    };
    char line[768] = "";
    size_t n = 0;
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        int val = ioctl(fd, KVM_CHECK_EXTENSION, caps[i].cap);
        n +=
            (size_t)snprintf(line + n, sizeof line - n, "%s%s=%d", i ? " " : "", caps[i].name, val);
        if (n >= sizeof line) break;
    }
    report("caps", 1, "%s", line);

    // KVM_GET_SUPPORTED_CPUID with growing buffers, as a VMM sizes it (E2BIG: too small)
    char cl[512] = "";
    size_t cn = 0;
    int cpuid_ok = 0;
    for (unsigned nent = 32; nent <= 512; nent *= 2) {
        size_t sz = sizeof(struct kvm_cpuid2) + nent * sizeof(struct kvm_cpuid_entry2);
        struct kvm_cpuid2* c = calloc(1, sz);
        if (!c) break;
        c->nent = nent;
        int rc = ioctl(fd, KVM_GET_SUPPORTED_CPUID, c);
        int e = errno;
        if (rc == 0) {
            uint32_t max_basic = 0, max_ext = 0;
            for (uint32_t i = 0; i < c->nent; i++) {
                if (c->entries[i].function == 0) max_basic = c->entries[i].eax;
                if (c->entries[i].function == 0x80000000) max_ext = c->entries[i].eax;
            }
            cn += (size_t)snprintf(cl + cn, sizeof cl - cn,
                                   "%snent=%u: ok, %u entries (max leaf 0x%x, ext 0x%x)",
                                   cn ? "; " : "", nent, c->nent, max_basic, max_ext);
            cpuid_ok = 1;
        } else {
            cn += (size_t)snprintf(cl + cn, sizeof cl - cn, "%snent=%u: %s", cn ? "; " : "", nent,
                                   strerror(e));
        }
        free(c);
        if (rc == 0 || cn >= sizeof cl) break;
    }
    report("supported_cpuid", cpuid_ok, "KVM_GET_SUPPORTED_CPUID %s", cl);
    close(fd);
    return api == 12 ? 0 : -1;
}

// ---- (b) vmmcall ------------------------------------------------------------------------

// vmmcall with no debug: KVM treats it as a KVM hypercall. 0x20 is Xen's event_channel_op and
// no KVM hypercall, so KVM answers -KVM_ENOSYS (-1000) in EAX and the guest runs on.
static void probe_vmmcall_plain(void) {
    char err[384];
    struct vm v;
    if (vm_open(&v, err, sizeof err) < 0 || vm_add_vcpu(&v, err, sizeof err) < 0) {
        report("vmmcall_plain", 0, "%s", err);
        vm_close(&v);
        return;
    }
    static const uint8_t code[] = {
        0xb8, 0x20, 0x00, 0x00, 0x00,  // mov $0x20,%eax
        0x0f, 0x01, 0xd9,              // vmmcall
        0xe7, 0x80,                    // out %eax,$0x80
        0xf4,                          // hlt
    };
    memcpy(v.mem + CODE_ADDR, code, sizeof code);
    uint32_t val = 0;
    g_run_timeout = 5;
    int rc = set_mode(&v, 0, CODE_ADDR, err, sizeof err) < 0 ||
             expect_io(&v, 0x80, &val, err, sizeof err) < 0;
    g_run_timeout = RUN_TIMEOUT_S;
    if (rc) {
        report("vmmcall_plain", 0, "%s", err);
    } else {
        report("vmmcall_plain", 1,
               "no breakpoint: KVM handled vmmcall itself, guest EAX after it 0x%x%s", val,
               val == 0xfffffc18u ? " (-KVM_ENOSYS)" : "");
    }
    vm_close(&v);
}

// A hardware execute breakpoint on the vmmcall: KVM_EXIT_DEBUG at X, skip, IO exit, again.
static void probe_vmmcall_hwbp(int long_mode) {
    const char* name = long_mode ? "vmmcall_hwbp64" : "vmmcall_hwbp32";
    char err[384];
    struct vm v;
    if (vm_open(&v, err, sizeof err) < 0 || vm_add_vcpu(&v, err, sizeof err) < 0) {
        report(name, 0, "%s", err);
        vm_close(&v);
        return;
    }
    static const uint8_t code[] = {
        0x0f, 0x01, 0xd9,  // X:   vmmcall
        0xe7, 0x80,        // X+3: out %eax,$0x80
        0xeb, 0xf9,        // X+5: jmp X
    };
    memcpy(v.mem + CODE_ADDR, code, sizeof code);
    uint64_t x = long_mode ? HIGH_ALIAS + CODE_ADDR : CODE_ADDR;
    if (set_mode(&v, long_mode, x, err, sizeof err) < 0) {
        report(name, 0, "%s", err);
        vm_close(&v);
        return;
    }
    struct kvm_guest_debug dbg;
    memset(&dbg, 0, sizeof dbg);
    dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
    dbg.arch.debugreg[0] = x;
    dbg.arch.debugreg[7] = 1 | (0u << 16);  // L0, execute, length 1
    if (ioctl(v.vcpu, KVM_SET_GUEST_DEBUG, &dbg) < 0) {
        report(name, 0, "KVM_SET_GUEST_DEBUG: %s", strerror(errno));
        vm_close(&v);
        return;
    }
    const int rounds = 200;
    uint64_t t0 = 0;
    char d[256];
    for (int i = 0; i < rounds; i++) {
        if (i == 1) t0 = now_ns();
        if (run_once(&v, err, sizeof err) < 0) {
            report(name, 0, "round %d: %s", i, err);
            vm_close(&v);
            return;
        }
        struct kvm_run* r = v.run;
        if (r->exit_reason != KVM_EXIT_DEBUG || r->debug.arch.pc != x ||
            r->debug.arch.exception != 1) {
            describe_exit(&v, d, sizeof d);
            report(name, 0, "round %d: expected KVM_EXIT_DEBUG exception 1 pc 0x%llx, got %s%s", i,
                   (unsigned long long)x, d,
                   r->exit_reason == KVM_EXIT_IO && r->io.port == 0x80
                       ? " (the breakpoint did not fire: KVM ran the vmmcall itself)"
                       : "");
            vm_close(&v);
            return;
        }
        if (i == 0) describe_exit(&v, d, sizeof d);
        struct kvm_regs regs;
        if (ioctl(v.vcpu, KVM_GET_REGS, &regs) < 0) {
            report(name, 0, "KVM_GET_REGS: %s", strerror(errno));
            vm_close(&v);
            return;
        }
        if (regs.rip != x) {
            report(name, 0, "round %d: at the debug exit RIP is 0x%llx, not 0x%llx", i,
                   (unsigned long long)regs.rip, (unsigned long long)x);
            vm_close(&v);
            return;
        }
        regs.rip = x + 3;
        regs.rax = (uint64_t)i;
        if (ioctl(v.vcpu, KVM_SET_REGS, &regs) < 0) {
            report(name, 0, "KVM_SET_REGS: %s", strerror(errno));
            vm_close(&v);
            return;
        }
        uint32_t val = 0;
        if (expect_io(&v, 0x80, &val, err, sizeof err) < 0) {
            report(name, 0, "round %d, after skipping the vmmcall: %s", i, err);
            vm_close(&v);
            return;
        }
        if (val != (uint32_t)i) {
            report(name, 0, "round %d: the out wrote 0x%x, expected 0x%x", i, val, i);
            vm_close(&v);
            return;
        }
    }
    uint64_t per = (now_ns() - t0) / (uint64_t)(rounds - 1) / 1000u;
    report(name, 1, "first exit %s; %d rounds of debug exit + skip + IO exit, %llu us per round", d,
           rounds, (unsigned long long)per);
    vm_close(&v);
}

// Diagnostics for the vmmcall breakpoint: does a hardware breakpoint fire on an ordinary
// instruction (if not, the host's SVM does not load the guest's DR7 into its breakpoint
// logic: QEMU before 9.1 sets DR7 on VMRUN without arming TCG's breakpoints), does an
// `int3` with KVM_GUESTDBG_USE_SW_BP exit (a patching alternative), and does single-step.
static void probe_debug_variant(const char* name, const uint8_t* code, size_t len, uint32_t control,
                                uint64_t dr0, uint64_t dr7, uint32_t want_exc, uint64_t want_pc) {
    char err[384];
    struct vm v;
    if (vm_open(&v, err, sizeof err) < 0 || vm_add_vcpu(&v, err, sizeof err) < 0) {
        report(name, 0, "%s", err);
        vm_close(&v);
        return;
    }
    memcpy(v.mem + CODE_ADDR, code, len);
    if (set_mode(&v, 0, CODE_ADDR, err, sizeof err) < 0) {
        report(name, 0, "%s", err);
        vm_close(&v);
        return;
    }
    struct kvm_guest_debug dbg;
    memset(&dbg, 0, sizeof dbg);
    dbg.control = control;
    dbg.arch.debugreg[0] = dr0;
    dbg.arch.debugreg[7] = dr7;
    if (ioctl(v.vcpu, KVM_SET_GUEST_DEBUG, &dbg) < 0) {
        report(name, 0, "KVM_SET_GUEST_DEBUG: %s", strerror(errno));
        vm_close(&v);
        return;
    }
    char d[256];
    if (run_once(&v, err, sizeof err) < 0) {
        report(name, 0, "%s", err);
        vm_close(&v);
        return;
    }
    describe_exit(&v, d, sizeof d);
    struct kvm_run* r = v.run;
    int ok = r->exit_reason == KVM_EXIT_DEBUG && r->debug.arch.exception == want_exc &&
             r->debug.arch.pc == want_pc;
    report(name, ok, "%s %s (wanted KVM_EXIT_DEBUG exception %u pc 0x%llx)",
           ok ? "got" : "got instead", d, want_exc, (unsigned long long)want_pc);
    vm_close(&v);
}

static void probe_debug_diagnostics(void) {
    static const uint8_t nops[] = {
        0x90,        // X:   nop
        0x90,        // X+1: nop      <- hardware breakpoint here
        0xe7, 0x80,  // X+2: out %eax,$0x80
        0xf4,
    };
    probe_debug_variant("hwbp_nop32", nops, sizeof nops,
                        KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, CODE_ADDR + 1, 1, 1,
                        CODE_ADDR + 1);
    static const uint8_t int3[] = {
        0x90,        // X:   nop
        0xcc,        // X+1: int3 (where the vmmcall was, patched)
        0xe7, 0x80,  // out %eax,$0x80
        0xf4,
    };
    // KVM reports a software breakpoint at the int3 itself (RIP is moved back onto it)
    probe_debug_variant("swbp_int3_32", int3, sizeof int3,
                        KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP, 0, 0, 3, CODE_ADDR + 1);
    probe_debug_variant("singlestep32", nops, sizeof nops,
                        KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP, 0, 0, 1, CODE_ADDR + 1);
}

// ---- (c) in-kernel LAPIC and an MSI -----------------------------------------------------

struct msi_arg {
    int vmfd;
    int rc, err;
    uint64_t sent_ns;
};

static void* msi_thread(void* p) {
    struct msi_arg* a = p;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    struct kvm_msi msi;
    memset(&msi, 0, sizeof msi);
    msi.address_lo = 0xfee00000;
    msi.address_hi = 0;
    msi.data = 0xf3;
    a->sent_ns = now_ns();
    a->rc = ioctl(a->vmfd, KVM_SIGNAL_MSI, &msi);
    a->err = errno;
    return NULL;
}

static void probe_lapic_msi(void) {
    const char* name = "lapic_msi";
    char err[384];
    struct vm v;
    if (vm_open(&v, err, sizeof err) < 0) {
        report(name, 0, "%s", err);
        vm_close(&v);
        return;
    }
    if (ioctl(v.fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        report(name, 0, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
        vm_close(&v);
        return;
    }
    if (vm_add_vcpu(&v, err, sizeof err) < 0) {
        report(name, 0, "%s", err);
        vm_close(&v);
        return;
    }
    static const uint8_t code[] = {
        0xb8, 0xff, 0x01, 0x00, 0x00,  // mov $0x1ff,%eax    SVR: enabled, spurious vector 0xff
        0xa3, 0xf0, 0x00, 0xe0, 0xfe,  // mov %eax,0xfee000f0
        0xe6, 0x83,                    // out %al,$0x83      "ready"
        0xfb,                          // sti
        0xf4,                          // hlt
        0xeb, 0xfd,                    // jmp back to hlt
    };
    static const uint8_t handler[] = {
        0xb0, 0xf3,  // mov $0xf3,%al
        0xe6, 0x81,  // out %al,$0x81
        0xf4,        // hlt
        0xeb, 0xfd,
    };
    memcpy(v.mem + CODE_ADDR, code, sizeof code);
    memcpy(v.mem + HANDLER_ADDR, handler, sizeof handler);
    // 32-bit interrupt gate, DPL 0, present, for vector 0xf3.
    uint64_t gate = (HANDLER_ADDR & 0xffffull) | ((uint64_t)SEL_CODE32 << 16) | (0x8e00ull << 32) |
                    ((uint64_t)(HANDLER_ADDR >> 16) << 48);
    put64(v.mem, IDT_ADDR + 0xf3 * 8, gate);
    if (set_mode(&v, 0, CODE_ADDR, err, sizeof err) < 0 ||
        expect_io(&v, 0x83, NULL, err, sizeof err) < 0) {
        report(name, 0, "before the MSI: %s", err);
        vm_close(&v);
        return;
    }
    struct msi_arg a = {.vmfd = v.fd};
    pthread_t t;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int prc = pthread_create(&t, NULL, msi_thread, &a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        report(name, 0, "pthread_create: %s", strerror(prc));
        vm_close(&v);
        return;
    }
    int rc = expect_io(&v, 0x81, NULL, err, sizeof err);
    uint64_t got = now_ns();
    pthread_join(t, NULL);
    if (a.rc < 0) {
        report(name, 0, "KVM_SIGNAL_MSI: %s", strerror(a.err));
    } else if (rc < 0) {
        report(name, 0, "after KVM_SIGNAL_MSI (returned %d): %s", a.rc, err);
    } else {
        report(name, 1,
               "KVM_SIGNAL_MSI returned %d; vector 0xf3 handler ran, %llu us from the MSI to its "
               "IO exit",
               a.rc, (unsigned long long)((got - a.sent_ns) / 1000u));
    }
    vm_close(&v);
}

// ---- (d) MSR filter ---------------------------------------------------------------------

/* One MSR through the vCPU's KVM_GET_MSRS / KVM_SET_MSRS: the system-call trace reads and
 * redirects MSR_LSTAR this way (docs/vmi.md). Returns the ioctl's result (-errno on error). */
static int msr_io1(int vcpu_fd, unsigned long request, uint32_t index, uint64_t* value) {
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e;
    } m;
    memset(&m, 0, sizeof m);
    m.h.nmsrs = 1;
    m.e.index = index;
    m.e.data = *value;
    int rc = ioctl(vcpu_fd, request, &m);
    if (rc < 0) return -errno;
    *value = m.e.data;
    return rc;
}

static void probe_msr_filter(void) {
    const char* name = "msr_filter";
    char err[384];
    struct vm v;
    if (vm_open(&v, err, sizeof err) < 0) {
        report(name, 0, "%s", err);
        vm_close(&v);
        return;
    }
    struct kvm_enable_cap cap;
    memset(&cap, 0, sizeof cap);
    cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
    cap.args[0] = KVM_MSR_EXIT_REASON_FILTER;
    if (ioctl(v.fd, KVM_ENABLE_CAP, &cap) < 0) {
        report(name, 0, "KVM_ENABLE_CAP(X86_USER_SPACE_MSR, FILTER): %s", strerror(errno));
        vm_close(&v);
        return;
    }
    static uint8_t bitmap[1] = {0};  // bit 0 clear: writes to 0x40000000 denied
    struct kvm_msr_filter f;
    memset(&f, 0, sizeof f);
    f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
    f.ranges[0].flags = KVM_MSR_FILTER_WRITE;
    f.ranges[0].nmsrs = 1;
    f.ranges[0].base = 0x40000000;
    f.ranges[0].bitmap = bitmap;
    if (ioctl(v.fd, KVM_X86_SET_MSR_FILTER, &f) < 0) {
        report(name, 0, "KVM_X86_SET_MSR_FILTER: %s", strerror(errno));
        vm_close(&v);
        return;
    }
    if (vm_add_vcpu(&v, err, sizeof err) < 0) {
        report(name, 0, "%s", err);
        vm_close(&v);
        return;
    }
    static const uint8_t code[] = {
        0xb9, 0x00, 0x00, 0x00, 0x40,  // mov $0x40000000,%ecx
        0xb8, 0x00, 0x20, 0x34, 0x12,  // mov $0x12342000,%eax   (as a hypercall-page GPA)
        0x31, 0xd2,                    // xor %edx,%edx
        0x0f, 0x30,                    // wrmsr
        0xe6, 0x82,                    // out %al,$0x82
        0xf4,                          // hlt
    };
    memcpy(v.mem + CODE_ADDR, code, sizeof code);
    if (set_mode(&v, 0, CODE_ADDR, err, sizeof err) < 0 || run_once(&v, err, sizeof err) < 0) {
        report(name, 0, "%s", err);
        vm_close(&v);
        return;
    }
    struct kvm_run* r = v.run;
    char d[256];
    describe_exit(&v, d, sizeof d);
    if (r->exit_reason != KVM_EXIT_X86_WRMSR || r->msr.index != 0x40000000 ||
        r->msr.data != 0x12342000) {
        report(name, 0, "expected KVM_EXIT_X86_WRMSR index 0x40000000 data 0x12342000, got %s", d);
        vm_close(&v);
        return;
    }
    r->msr.error = 0;
    if (expect_io(&v, 0x82, NULL, err, sizeof err) < 0) {
        report(name, 0, "after the WRMSR exit was answered: %s", err);
        vm_close(&v);
        return;
    }
    report(name, 1, "%s; the guest ran on after the reply", d);
    uint64_t value = 0xffffffff81e00000ull, back = 0;
    int set = msr_io1(v.vcpu, KVM_SET_MSRS, 0xc0000082, &value);
    int get = msr_io1(v.vcpu, KVM_GET_MSRS, 0xc0000082, &back);
    report("msr_lstar_filtered", set == 1 && get == 1 && back == value,
           "after a run, with the filter: KVM_SET_MSRS -> %d, KVM_GET_MSRS -> %d (%s)", set, get,
           get < 0 ? strerror(-get) : "ok");
    vm_close(&v);
}

static void probe_msr_lstar(void) {
    const char* name = "msr_lstar";
    char err[384];
    struct vm v;
    if (vm_open(&v, err, sizeof err) < 0 || vm_add_vcpu(&v, err, sizeof err) < 0) {
        report(name, 0, "%s", err);
        vm_close(&v);
        return;
    }
    const uint32_t lstar = 0xc0000082;
    uint64_t value = 0xffffffff81e00000ull, back = 0;
    int set = msr_io1(v.vcpu, KVM_SET_MSRS, lstar, &value);
    int get = msr_io1(v.vcpu, KVM_GET_MSRS, lstar, &back);
    report(name, set == 1 && get == 1 && back == value,
           "KVM_SET_MSRS -> %d, KVM_GET_MSRS -> %d, value %#llx (%s)", set, get,
           (unsigned long long)back, get < 0 ? strerror(-get) : "ok");
    vm_close(&v);
}

int main(int argc, char** argv) {
    if (argc > 1) g_kvm_path = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;  // no SA_RESTART: KVM_RUN returns EINTR
    sigaction(SIGALRM, &sa, NULL);

    uint64_t t0 = now_ns();
    if (probe_basics() == 0) {
        probe_vmmcall_plain();
        probe_vmmcall_hwbp(0);
        probe_vmmcall_hwbp(1);
        probe_debug_diagnostics();
        probe_lapic_msi();
        probe_msr_filter();
        probe_msr_lstar();
    }
    printf("PROBE-SUMMARY pass=%d fail=%d elapsed_ms=%llu\n", g_pass, g_fail,
           (unsigned long long)((now_ns() - t0) / 1000000u));
    return g_fail == 0 && g_pass > 0 ? 0 : 1;
}
