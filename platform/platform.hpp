// The platform seam: what the hypervisor core (hv/) needs from whatever runs guest code.
//
// Two platforms sit behind it: KVM (platform/kvm/: VT-x, AMD-V, PVM; PVH lives there) and
// the process platform (platform/process/: each domain's guest runs natively in a
// sandboxed stub process, each vCPU a stub thread driven with ptrace). hv/ sees only the
// neutral types below: registers, a boot context, and one Exit per return from run().
//
// Threads: a Vcpu's run(), registers and control registers belong to the one host thread
// that runs it (ptrace and KVM both tie a vCPU to a thread). request_exit() may be called
// from any thread and from a signal handler.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "base/error.hpp"
#include "platform/fpu_state.hpp"

namespace xenolith::platform {

// The general registers of an x86-64 vCPU as hv/ reads and writes them.
struct Registers {
    uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0, rsp = 0;
    uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
    uint64_t rip = 0, rflags = 0;
};

// The control state a crash dump and guest-pointer translation need.
struct ControlRegisters {
    uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, efer = 0;
};

// A segment register as the x86 descriptor caches hold it (PVH's entry state).
struct Segment {
    uint64_t base = 0;
    uint32_t limit = 0;
    uint16_t selector = 0;
    uint8_t type = 0, present = 0, dpl = 0, db = 0, s = 0, l = 0, g = 0;
};
struct DescriptorTable {
    uint64_t base = 0;
    uint16_t limit = 0;
};
// The whole segment and control state of a PVH entry, applied as it is.
struct SegmentState {
    Segment cs, ds, es, ss, fs, gs, tr, ldt;
    DescriptorTable gdt, idt;
    uint64_t cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;
};

// Where a vCPU starts.
struct BootContext {
    enum class Mode {
        // A PV kernel: 64-bit mode at CPL 3 on the builder's page tables (docs/guest-abi.md).
        PvUser64,
        // Xen's PVH entry: 32-bit flat protected mode, paging off, CPL 0 (KVM only).
        Pvh32,
        // A PVH secondary vCPU: held in reset until the guest sends INIT/SIPI (KVM only).
        PvhWaitForSipi,
    };
    Mode mode = Mode::PvUser64;
    // PvUser64: of RFLAGS only the arithmetic flags (CF PF AF ZF SF DF OF) are taken; IF and
    // the platform's IOPL are forced (a restored vCPU resumes with the flags it had).
    Registers regs;
    uint64_t cr3 = 0;
    uint64_t fs_base = 0;
    uint64_t gs_base = 0;
    // PvUser64 on KVM: the TSS whose I/O bitmap admits the hypercall and notify ports (PVM
    // ignores RFLAGS.IOPL at CPL 3).
    uint64_t tss_base = 0;
    // Pvh32: the entry's segment and control state (`regs` is then applied as it is too).
    SegmentState segments;
    // PvUser64, a restored vCPU (save/restore): its x87/SSE/AVX state. Absent: the state
    // after reset. boot() throws Error when this platform cannot hold it.
    std::optional<FpuState> fpu;
};

// RFLAGS bits a PV guest's own instructions set: carried across save/restore.
inline constexpr uint64_t kArithmeticFlags = 0x0cd5;  // CF PF AF ZF SF DF OF

// What save/restore needs of a PV vCPU beyond regs() and control_registers().
struct ExtendedState {
    uint64_t fs_base = 0, gs_base = 0;
    FpuState fpu;
};

// Why run() returned. After a Hypercall or Notify exit RIP is already past the trapping
// instruction, on every platform: hv/ may change RIP (an upcall) without knowing how the
// guest trapped.
struct Exit {
    enum class Kind {
        Hypercall,      // value: the hypercall number; arguments are in the registers
        Notify,         // value: the event-channel port the guest notified
        Interrupted,    // request_exit(), a signal, or nothing the hypervisor must handle
        Fault,          // the guest faulted or did what it may not: `what` says which
        PowerOff,       // PVH: the ACPI sleep register asked for S5
        Reboot,         // PVH: the ACPI reset register
        HypercallPage,  // PVH: the guest wrote the Xen hypercall MSR; value: what it wrote
        Debug,          // introspection: value is a DebugExit; `what` names it for a crash
    };
    Kind kind = Kind::Interrupted;
    uint64_t value = 0;
    // Fault: one sentence for the crash report ("guest exception: general protection").
    std::string what;
    // Fault: the faulting data address where there is one (page faults), reported as CR2.
    uint64_t fault_address = 0;
};

// Exit::Debug's value. Breakpoint: the guest executed an int3, and RIP is past it (whether
// it is a debugger's breakpoint or the guest's own is for vmi/ to say). SingleStep: the
// instruction set_single_step() asked for has run. Probe: the guest wrote
// XENOLITH_PROBE_PORT (a trampoline vmi/ placed), and RIP is past that `out`. Write: an
// instruction writes to a page Vm::watch_writes() watches, at guest-physical
// `fault_address`; the write is not made until complete_write() says so. RIP is the
// writer's on the process platform, and past it on KVM (whose emulator has finished the
// instruction but for the store).
enum class DebugExit : uint64_t { Breakpoint = 0, SingleStep = 1, Probe = 2, Write = 3 };

// What introspection a vCPU's platform offers: for each feature, empty when it works, else
// one sentence saying why not (a debugger's client shows it; tests report it).
struct DebugSupport {
    std::string breakpoints;  // the guest's int3 returns Exit::Debug(Breakpoint)
    std::string single_step;  // Vcpu::set_single_step
};

class Vcpu {
  public:
    virtual ~Vcpu() = default;

    // Sets the boot state. On the thread that will run the vCPU, before the first run():
    // it binds the vCPU to that thread (see kick_signal()).
    virtual void boot(const BootContext& ctx) = 0;
    // Runs the guest until something needs the hypervisor. Throws Error on a host failure.
    virtual Exit run() = 0;
    // Makes a concurrent run() return Interrupted promptly, or the next one return at once.
    // Any thread; async-signal-safe.
    virtual void request_exit() noexcept = 0;
    // What the kick signal's handler does on the vCPU's own thread: the signal has already
    // interrupted whatever run() waits in, so only the request is recorded.
    virtual void note_exit_request() noexcept = 0;
    // Forgets an earlier request_exit(): call before looking at what the vCPU should do, so
    // that a request made after the look is not lost.
    virtual void clear_exit_request() noexcept = 0;

    // The registers as of the last exit; written back before the next run() once
    // mark_regs_dirty() has been called.
    virtual Registers& regs() = 0;
    virtual void mark_regs_dirty() = 0;
    virtual ControlRegisters control_registers() = 0;

    // Save/restore: the segment bases and FPU state of a PV vCPU. On the vCPU's thread,
    // between runs. Throws Error where the platform cannot give them (a PVH vCPU).
    virtual ExtendedState extended_state() = 0;

    // The host CPU the vCPU's host thread was just pinned to (the scheduler's grant). A
    // platform whose guest runs in another thread keeps that thread there too: a trap round
    // trip between threads on two CPUs costs some thirty times one on the same CPU here.
    virtual void follow_host_cpu(unsigned cpu) { (void)cpu; }

    // Introspection: while on, each run() executes at most one guest instruction and returns
    // Exit::Debug(SingleStep), or the exit that instruction caused (a hypercall's). On the
    // vCPU's thread. False where the platform cannot step.
    virtual bool set_single_step(bool on) {
        (void)on;
        return false;
    }
    // Introspection: what this vCPU offers (see DebugSupport). Any thread.
    virtual DebugSupport debug_support() const {
        return {"this platform has no debug exits", "this platform cannot single-step"};
    }

    // Introspection: a model-specific register of the vCPU (a PVH guest's MSR_LSTAR). On
    // the vCPU's thread, between runs. nullopt / false where the platform has no MSRs to
    // give (the process platform) or KVM refused.
    virtual std::optional<uint64_t> read_msr(uint32_t index) {
        (void)index;
        return std::nullopt;
    }
    virtual bool write_msr(uint32_t index, uint64_t value) {
        (void)index, (void)value;
        return false;
    }
    // Introspection: answers the last DebugExit::Write. `perform`: the next run() lets the
    // instruction write (and, single-stepping, returns after it); else the write is dropped
    // and the caller changes RIP or gives up the vCPU (a crash). On the vCPU's thread.
    virtual void complete_write(bool perform) { (void)perform; }
    // Whether a DebugExit::Write comes after its instruction has run but for the store (RIP
    // past it; complete_write() makes the store: KVM), rather than before it (RIP at it; the
    // next run() runs it: the process platform).
    virtual bool write_exit_after_instruction() const { return false; }

    // PVH (only where Vm::supports_hvm()): answer the last HypercallPage exit (false: the
    // guest gets #GP, as for an MSR that does not exist).
    virtual void complete_hypercall_page(bool ok) { (void)ok; }
    // PVH: retires `vector` from the LAPIC's in-service register, as an EOI would. Returns
    // whether it was in service. Between runs, on the vCPU's thread.
    virtual bool retire_vector(uint8_t vector) {
        (void)vector;
        return false;
    }
};

// The host side of a guest-to-backend notification: `fd()` becomes readable (eventfd
// semantics) when the guest notifies `port`. Where the platform can, this happens without
// an exit (KVM_IOEVENTFD); elsewhere hv/ writes it on the Notify exit's slow path.
class NotifyEndpoint {
  public:
    virtual ~NotifyEndpoint() = default;
    virtual int fd() const = 0;
    // Stops the fast path for this port (the guest's writes exit again); the fd stays open.
    // Idempotent.
    virtual void detach() = 0;
};

// Guest RAM as the platform sees it: one memfd, mapped at `host` in this process, at
// guest-physical 0.
struct Ram {
    int fd = -1;
    uint8_t* host = nullptr;
    uint64_t size = 0;
};

struct VmConfig {
    Ram ram;
    uint32_t vcpus = 1;
    // PVH: a hardware-virtualized guest with Xen's HVM interfaces (LAPIC, hypercall MSR,
    // Xen CPUID leaves). Only where Platform::supports_hvm().
    bool hvm = false;
    uint16_t domid = 0;  // for the Xen CPUID leaves
};

// Live migration: the RAM pages a VM's guest wrote. Made by Vm::start_dirty_log(); logging
// ends when it is destroyed, which must happen before its Vm is. Writes hv/ and backends
// make through the host's mapping of RAM are not seen here (hv::GuestMemory logs those).
class DirtyLog {
  public:
    virtual ~DirtyLog() = default;
    // ORs into `bitmap` (bit p % 64 of word p / 64 for RAM page p; bitmap.size() * 64 >= RAM
    // pages) every page the guest wrote since the log began or the previous collect(), and
    // begins a new interval. A page reported was written no later than collect() returned,
    // so a copy made after it sees the write. Any thread, while the vCPUs run or not.
    // Throws Error on a host failure, after which writes may have gone unreported: end the
    // log (and a migration relying on it).
    virtual void collect(std::span<uint64_t> bitmap) = 0;
    // Which mechanism this is, for logs and `make bench` ("kvm-dirty-log", "uffd-wp-async").
    virtual const char* mechanism() const = 0;
};

class Vm {
  public:
    virtual ~Vm() = default;
    // vCPU `id` < VmConfig::vcpus. Each once.
    virtual std::unique_ptr<Vcpu> create_vcpu(uint32_t id) = 0;
    // See NotifyEndpoint. `port` is the guest's event-channel port.
    virtual std::unique_ptr<NotifyEndpoint> notify_endpoint(uint32_t port) = 0;

    // Introspection: guest writes to the RAM pages that [gpa, gpa+len) touches exit as
    // DebugExit::Write (`on`), or no longer do. Writes hv/ and backends make through the
    // host's mapping of RAM never exit. Call only while every vCPU is out of run() (KVM
    // changes memory slots). False where the platform has no means; throws Error with the
    // reason where it has one that this host cannot use.
    virtual bool watch_writes(uint64_t gpa, uint64_t len, bool on) {
        (void)gpa, (void)len, (void)on;
        return false;
    }

    // Starts logging guest writes to RAM (see DirtyLog). Throws Error with one sentence
    // saying why where this host or VM cannot: no mechanism in this kernel, page-write
    // watches are in use, or a log is already running. While a log runs, watch_writes()
    // refuses with the reason: both take the same hardware or kernel means.
    virtual std::unique_ptr<DirtyLog> start_dirty_log() {
        throw Error("this platform cannot log the pages a guest writes");
    }

    // --- PVH only -----------------------------------------------------------------------
    // Maps one host page at guest-physical `gpa` outside RAM under `key` (a grant frame a
    // PVH guest placed above RAM); `host` nullptr removes it.
    virtual void map_extra_page(uint32_t key, uint64_t gpa, void* host) {
        (void)key, (void)gpa, (void)host;
    }
    // Delivers interrupt `vector` to vCPU `vcpu`'s LAPIC (an MSI). False when dropped.
    virtual bool raise_vector(uint32_t vcpu, uint8_t vector) {
        (void)vcpu, (void)vector;
        return false;
    }
    // The ACPI registers the builder described in the FADT (see Exit::PowerOff/Reboot).
    virtual void set_acpi_ports(uint16_t sleep_control, uint16_t reset, uint8_t reset_value) {
        (void)sleep_control, (void)reset, (void)reset_value;
    }
};

class Platform {
  public:
    virtual ~Platform() = default;
    // "kvm" or "process".
    virtual const char* name() const = 0;
    // Can run PVH (VmConfig::hvm) guests: VT-x or AMD-V.
    virtual bool supports_hvm() const = 0;
    // The TSC rate guests see (their TSC is the host's).
    virtual uint32_t tsc_khz() const = 0;
    // The most vCPUs a VM may have; 0: no limit of the platform's own.
    virtual uint32_t max_vcpus() const = 0;
    // Throws Error with the reason when the VM cannot be made.
    virtual std::unique_ptr<Vm> create_vm(const VmConfig& config) = 0;
};

// The signal that knocks a vCPU's host thread out of run() (KVM_RUN, or a wait for a stub
// thread). Real-time, so that it queues; SIGRTMIN itself is glibc's. Aimed at a thread that
// a vCPU is bound to (its timers use it too), its handler calls that vCPU's
// note_exit_request(), so a signal that lands just before run() enters the guest is not lost.
int kick_signal();
// Installs that handler, once per process (platforms call it before making vCPUs).
void install_kick_handler();
// Binds `vcpu` to the calling thread for the handler; nullptr unbinds.
void bind_kick_target(Vcpu* vcpu);

}  // namespace xenolith::platform
