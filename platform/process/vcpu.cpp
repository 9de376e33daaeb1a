#include "platform/process/vcpu.hpp"

#include <cpuid.h>
#include <elf.h>
#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "abi/xenolith.h"
#include "base/error.hpp"
#include "platform/process/decode.hpp"

namespace xenolith::platform::process {

namespace {

// RFLAGS for the guest: IF and the always-one bit. IOPL cannot be given to a process, so
// `out` raises #GP, which is how hypercalls and notifications reach the tracer.
constexpr uint64_t kRflagsIf = 0x202;

pid_t this_thread() {
    static thread_local const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
    return tid;
}

// Clears the flag when run() leaves, whichever way.
struct InRun {
    std::atomic<bool>& flag;
    ~InRun() { flag.store(false); }
};

std::string died(int status) {
    if (WIFSIGNALED(status))
        return "the stub process died: killed by signal " + std::to_string(WTERMSIG(status));
    return "the stub process died: exit status " + std::to_string(WEXITSTATUS(status));
}

// Room for any XSAVE area a host's ptrace gives (AMX's is about 11 KiB).
constexpr size_t kMaxXsaveBytes = 16384;

// The state components the host's XCR0 enables: what a stub thread can hold.
uint64_t host_xfeatures() {
    unsigned eax, ebx, ecx, edx;
    __cpuid(1, eax, ebx, ecx, edx);
    if (!(ecx & bit_OSXSAVE)) return kXfeatureX87 | kXfeatureSse;
    uint32_t lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t{hi} << 32) | lo;
}

bool is_group_stop_signal(int sig) {
    return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

}  // namespace

ProcessVcpu::ProcessVcpu(std::shared_ptr<StubProcess> stub, uint32_t id)
    : stub_(std::move(stub)), id_(id), pid_(stub_->pid()), tid_(stub_->tid(id)) {}

void ProcessVcpu::boot(const BootContext& ctx) {
    if (ctx.mode != BootContext::Mode::PvUser64)
        throw Error("the process platform runs PV guests only (64-bit mode at CPL 3)");
    if (!tracer_) attach();
    check_tracer_thread();
    bind_kick_target(this);
    fetch_regs();  // the stopped thread's cs/ss are the host's 64-bit user selectors
    if (ctx.fpu) {
        std::vector<uint8_t> area = read_fpu_area();
        const std::string why = ctx.fpu->into_xsave(area, host_xfeatures());
        if (!why.empty()) throw Error(why);
        write_fpu_area(area);
    }
    regs_ = ctx.regs;
    regs_.rflags = kRflagsIf | (ctx.regs.rflags & kArithmeticFlags);
    raw_.fs_base = ctx.fs_base;
    raw_.gs_base = ctx.gs_base;
    cr3_ = ctx.cr3;
    cr2_ = 0;
    dirty_ = true;
}

ExtendedState ProcessVcpu::extended_state() {
    check_tracer_thread();
    if (!regs_fresh_) fetch_regs();
    const std::vector<uint8_t> area = read_fpu_area();
    return {raw_.fs_base, raw_.gs_base, FpuState::from_xsave(area)};
}

std::vector<uint8_t> ProcessVcpu::read_fpu_area() const {
    std::vector<uint8_t> area(kMaxXsaveBytes);
    iovec iov{area.data(), area.size()};
    if (::ptrace(PTRACE_GETREGSET, tid_, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) == 0) {
        area.resize(iov.iov_len);
        return area;
    }
    area.resize(sizeof(user_fpregs_struct));
    check_syscall(::ptrace(PTRACE_GETFPREGS, tid_, nullptr, area.data()), "PTRACE_GETFPREGS");
    return area;
}

void ProcessVcpu::write_fpu_area(std::vector<uint8_t>& area) const {
    if (area.size() == sizeof(user_fpregs_struct)) {
        check_syscall(::ptrace(PTRACE_SETFPREGS, tid_, nullptr, area.data()), "PTRACE_SETFPREGS");
        return;
    }
    iovec iov{area.data(), area.size()};
    check_syscall(::ptrace(PTRACE_SETREGSET, tid_, reinterpret_cast<void*>(NT_X86_XSTATE), &iov),
                  "PTRACE_SETREGSET(NT_X86_XSTATE)");
}

// Seizes the stub thread from this host thread. vCPU 0 (the stub's main thread) then lets
// the stub seal itself and catches its ready fault; the others wait for that, then take
// their thread out of the futex wait it was born in.
void ProcessVcpu::attach() {
    if (id_ != 0) stub_->wait_sealed();
    // EXITKILL: the stub dies with its tracer thread, so it cannot outlive the daemon.
    check_syscall(::ptrace(PTRACE_SEIZE, tid_, nullptr,
                           reinterpret_cast<void*>(PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD)),
                  "PTRACE_SEIZE of a stub thread");
    tracer_ = this_thread();
    if (id_ == 0) {
        stub_->seal();
        return;
    }
    check_syscall(::ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr), "PTRACE_INTERRUPT");
    bool kicked = false;
    int status = wait_for_stop(kicked);
    if (!WIFSTOPPED(status) || (status >> 16) != PTRACE_EVENT_STOP)
        throw Error("stub thread " + std::to_string(tid_) + " did not stop for its tracer");
}

void ProcessVcpu::check_tracer_thread() const {
    if (this_thread() != tracer_)
        throw Error("vCPU " + std::to_string(id_) +
                    " is used from a thread other than the one that booted it");
}

void ProcessVcpu::fetch_regs() {
    check_syscall(::ptrace(PTRACE_GETREGS, tid_, nullptr, &raw_), "PTRACE_GETREGS");
    regs_ = Registers{raw_.rax, raw_.rbx, raw_.rcx, raw_.rdx, raw_.rsi, raw_.rdi,
                      raw_.rbp, raw_.rsp, raw_.r8,  raw_.r9,  raw_.r10, raw_.r11,
                      raw_.r12, raw_.r13, raw_.r14, raw_.r15, raw_.rip, raw_.eflags};
    dirty_ = false;
    regs_fresh_ = true;
}

void ProcessVcpu::store_regs() {
    const Registers& r = regs_;
    raw_.rax = r.rax, raw_.rbx = r.rbx, raw_.rcx = r.rcx, raw_.rdx = r.rdx;
    raw_.rsi = r.rsi, raw_.rdi = r.rdi, raw_.rbp = r.rbp, raw_.rsp = r.rsp;
    raw_.r8 = r.r8, raw_.r9 = r.r9, raw_.r10 = r.r10, raw_.r11 = r.r11;
    raw_.r12 = r.r12, raw_.r13 = r.r13, raw_.r14 = r.r14, raw_.r15 = r.r15;
    raw_.rip = r.rip, raw_.eflags = r.rflags;
    // Not in a system call: a syscall the thread was stopped in (the secondaries' futex
    // wait) must not be restarted into the guest.
    raw_.orig_rax = ~0ull;
    check_syscall(::ptrace(PTRACE_SETREGS, tid_, nullptr, &raw_), "PTRACE_SETREGS");
    dirty_ = false;
}

Exit ProcessVcpu::run() {
    check_tracer_thread();
    if (exit_requested_.load()) return Exit{Exit::Kind::Interrupted};
    if (dirty_) store_regs();
    in_run_.store(true);
    InRun guard{in_run_};
    // request_exit() sets its flag, then looks at in_run_: one of the two sees the other.
    if (exit_requested_.load()) return Exit{Exit::Kind::Interrupted};
    return resume_until_exit();
}

void ProcessVcpu::complete_write(bool perform) {
    write_allowed_ = perform && write_at_.has_value();
    if (!perform) write_at_.reset();
}

// The write a debugger let through: its pages open for exactly one instruction (the others
// vCPUs are the debugger's to hold meanwhile), then protected again. The step's trap is
// the exit only when the debugger asked for a step too; any other stop is decoded as usual.
std::optional<Exit> ProcessVcpu::step_through_write(bool& kicked) {
    const uint64_t at = *write_at_;
    write_at_.reset();
    write_allowed_ = false;
    stub_->open_for_write(at, true);
    regs_fresh_ = false;
    long rc = ::ptrace(PTRACE_SINGLESTEP, tid_, nullptr, nullptr);
    int status = 0;
    if (rc == 0) {
        try {
            status = wait_for_stop(kicked);
        } catch (...) {
            stub_->open_for_write(at, false);
            throw;
        }
    }
    stub_->open_for_write(at, false);
    if (rc < 0) {
        if (errno == ESRCH && stub_->gone()) throw Error("the stub process died");
        throw SystemError("PTRACE_SINGLESTEP", errno);
    }
    if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0) {
        siginfo_t si{};
        check_syscall(::ptrace(PTRACE_GETSIGINFO, tid_, nullptr, &si), "PTRACE_GETSIGINFO");
        if (si.si_code == TRAP_TRACE) {
            if (!single_step_) return std::nullopt;  // written: run on
            Exit exit{Exit::Kind::Debug};
            exit.value = static_cast<uint64_t>(DebugExit::SingleStep);
            exit.what = describe_fault(si, regs().rip);
            return exit;
        }
    }
    if (std::optional<Exit> exit = decode_stop(status, kicked)) return exit;
    return std::nullopt;
}

Exit ProcessVcpu::resume_until_exit() {
    bool kicked = false;  // this run sent the stub thread a kick (the host thread was signalled)
    if (write_at_ && write_allowed_) {
        if (std::optional<Exit> exit = step_through_write(kicked)) return *exit;
    }
    write_at_.reset();  // unanswered: the instruction faults again if the page is still watched
    for (;;) {
        // Signal 0: whatever stopped the thread is never delivered to the stub.
        regs_fresh_ = false;
        const auto request = single_step_ ? PTRACE_SINGLESTEP : PTRACE_CONT;
        if (::ptrace(request, tid_, nullptr, nullptr) < 0) {
            if (errno == ESRCH && stub_->gone()) throw Error("the stub process died");
            throw SystemError(single_step_ ? "PTRACE_SINGLESTEP" : "PTRACE_CONT", errno);
        }
        int status = wait_for_stop(kicked);
        if (std::optional<Exit> exit = decode_stop(status, kicked)) return *exit;
    }
}

int ProcessVcpu::wait_for_stop(bool& kicked) {
    for (;;) {
        int status;
        pid_t r = ::waitpid(tid_, &status, __WALL);
        if (r == tid_) return status;
        if (r < 0 && errno == ECHILD) throw Error("the stub process died (already reaped)");
        if (r < 0 && errno != EINTR) throw SystemError("waitpid on a stub thread", errno);
        // The host thread was signalled (a timer, a kick): stop the guest so that run()
        // returns and the hypervisor can look.
        if (!kicked && ::syscall(SYS_tgkill, pid_, tid_, kick_signal()) < 0 && errno == ESRCH)
            throw Error("the stub process died");
        kicked = true;
    }
}

std::optional<Exit> ProcessVcpu::decode_stop(int status, bool kicked) {
    if (WIFEXITED(status) || WIFSIGNALED(status)) throw Error(died(status));
    const bool interrupted = kicked || exit_requested_.load();
    const int sig = WSTOPSIG(status);
    // PTRACE_EVENT_STOP is a group-stop (a stop signal reached the process) or a
    // PTRACE_INTERRUPT; a syscall-stop needs PTRACE_SYSCALL, unused. Both: keep running.
    if ((status >> 16) == PTRACE_EVENT_STOP || sig == (SIGTRAP | 0x80)) {
        if (interrupted) return Exit{Exit::Kind::Interrupted};
        return std::nullopt;
    }
    if (sig == SIGSEGV) {
        // The hot path, without PTRACE_GETSIGINFO: a SIGSEGV stop at `out %eax, $port` is
        // the #GP that instruction raises. (A SIGSEGV sent from outside just before an
        // `out` would be taken as the hypercall the guest was about to make: harmless.)
        fetch_regs();
        if (std::optional<Exit> exit = port_exit()) return exit;
    }
    siginfo_t si{};
    check_syscall(::ptrace(PTRACE_GETSIGINFO, tid_, nullptr, &si), "PTRACE_GETSIGINFO");
    // si_code <= 0: sent by a process (our kick included), not raised by the guest.
    const bool from_guest = si.si_code > 0 && sig != kick_signal() && !is_group_stop_signal(sig);
    if (!from_guest) {
        if (interrupted) return Exit{Exit::Kind::Interrupted};
        return std::nullopt;  // a stale kick or a stray signal: suppressed
    }
    return decode_fault(si);
}

std::optional<Exit> ProcessVcpu::decode_fault(const siginfo_t& si) {
    fetch_regs();
    switch (si.si_signo) {
        case SIGSEGV:
            // SI_KERNEL is #GP (port exits were taken in decode_stop); else a page fault.
            if (si.si_code != SI_KERNEL) cr2_ = reinterpret_cast<uint64_t>(si.si_addr);
            break;
        case SIGILL:
            if (emulate_fsgsbase_insn()) return std::nullopt;
            break;
        case SIGTRAP:
            // int3 (SI_KERNEL) or the trap after a PTRACE_SINGLESTEP: vmi/'s to judge; a
            // trap flag the guest set itself stays a fault.
            if (si.si_code == SI_KERNEL || single_step_) {
                Exit exit{Exit::Kind::Debug};
                exit.value = static_cast<uint64_t>(si.si_code == SI_KERNEL ? DebugExit::Breakpoint
                                                                           : DebugExit::SingleStep);
                exit.what = describe_fault(si, regs_.rip);
                return exit;
            }
            break;
        case SIGBUS:
            // A write to a page the stub's userfaultfd protects (BUS_ADRERR at the written
            // address, RIP at the writer). One no longer watched was released while this
            // vCPU was on its way: the instruction runs again and writes.
            if (si.si_code == BUS_ADRERR) {
                const uint64_t at = reinterpret_cast<uint64_t>(si.si_addr);
                if (stub_->watched(at)) {
                    write_at_ = at;
                    write_allowed_ = false;
                    Exit exit{Exit::Kind::Debug};
                    exit.value = static_cast<uint64_t>(DebugExit::Write);
                    exit.fault_address = at;
                    exit.what = describe_fault(si, regs_.rip);
                    return exit;
                }
                if (at >= stub_->ram_base() && at < stub_->ram().size) return std::nullopt;
            }
            break;
        case SIGFPE:
        case SIGSYS:
            break;
        default:
            // A kernel-generated signal that is no guest fault (SIGXCPU, ...): nothing for
            // the hypervisor, unless it asked for an exit.
            if (exit_requested_.load()) return Exit{Exit::Kind::Interrupted};
            return std::nullopt;
    }
    Exit exit{Exit::Kind::Fault};
    exit.what = describe_fault(si, regs_.rip);
    exit.fault_address = si.si_signo == SIGSEGV && si.si_code != SI_KERNEL ? cr2_ : 0;
    return exit;
}

const uint8_t* ProcessVcpu::guest_code(size_t& avail) const {
    // RIP is a guest-physical address (the stub maps RAM at VA = guest-physical).
    const Ram& ram = stub_->ram();
    if (regs_.rip < stub_->ram_base() || regs_.rip >= ram.size) {
        avail = 0;
        return nullptr;
    }
    avail = std::min<uint64_t>(ram.size - regs_.rip, 16);
    return ram.host + regs_.rip;
}

// #GP on `out %eax, $port`: a hypercall or a notification. RIP moves past it, as the
// seam promises, so hv/ may redirect the vCPU without knowing how it trapped.
std::optional<Exit> ProcessVcpu::port_exit() {
    size_t avail = 0;
    const uint8_t* code = guest_code(avail);
    std::optional<uint8_t> port = code ? out_eax_imm8_port(code, avail) : std::nullopt;
    if (!port || (*port != XENOLITH_HYPERCALL_PORT && *port != XENOLITH_NOTIFY_PORT))
        return std::nullopt;
    regs_.rip += 2;
    dirty_ = true;
    const Exit::Kind kind =
        *port == XENOLITH_HYPERCALL_PORT ? Exit::Kind::Hypercall : Exit::Kind::Notify;
    return Exit{kind, regs_.rax & 0xffffffffu};
}

// Hosts whose kernel does not enable FSGSBASE for user space raise #UD on rd/wr*base;
// the guest ABI promises them, so the tracer does what the instruction would have done.
bool ProcessVcpu::emulate_fsgsbase_insn() {
    size_t avail = 0;
    const uint8_t* code = guest_code(avail);
    std::optional<FsGsBaseInsn> insn = code ? decode_fsgsbase(code, avail) : std::nullopt;
    if (!insn) return false;
    store_regs();  // regs_ into raw_ (unchanged), then the emulation on raw_
    emulate_fsgsbase(*insn, raw_);
    check_syscall(::ptrace(PTRACE_SETREGS, tid_, nullptr, &raw_), "PTRACE_SETREGS");
    fetch_regs();
    return true;
}

// The stub thread runs only when its tracer waits for it, so on the tracer's CPU it never
// competes with it, and every trap is a switch on one CPU instead of a cross-CPU wake-up.
// May fail (a CPU the stub's cpuset lacks): the guest still runs, only slower.
void ProcessVcpu::follow_host_cpu(unsigned cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)::sched_setaffinity(tid_, sizeof set, &set);
}

void ProcessVcpu::request_exit() noexcept {
    exit_requested_.store(true);
    // The stub thread's stop for the kick ends the waitpid in run(). tgkill is
    // async-signal-safe; a stub already gone has nothing to stop.
    if (in_run_.load() && !stub_->gone()) ::syscall(SYS_tgkill, pid_, tid_, kick_signal());
}

void ProcessVcpu::clear_exit_request() noexcept {
    exit_requested_.store(false);
}

ControlRegisters ProcessVcpu::control_registers() {
    // What a Linux process runs with; CR3 is the builder's page tables, which the process
    // does not use (its RAM is at VA = guest-physical) but a crash dump names.
    constexpr uint64_t PE = 1, MP = 2, ET = 1 << 4, NE = 1 << 5, WP = 1 << 16, AM = 1 << 18,
                       PG = 1ull << 31;
    constexpr uint64_t PAE = 1 << 5, OSFXSR = 1 << 9, OSXMMEXCPT = 1 << 10, FSGSBASE = 1 << 16;
    constexpr uint64_t SCE = 1, LME = 1 << 8, LMA = 1 << 10, NXE = 1 << 11;
    ControlRegisters c;
    c.cr0 = PE | MP | ET | NE | WP | AM | PG;
    c.cr2 = cr2_;
    c.cr3 = cr3_;
    c.cr4 = PAE | OSFXSR | OSXMMEXCPT | FSGSBASE;  // FSGSBASE: native or emulated
    c.efer = SCE | LME | LMA | NXE;
    return c;
}

}  // namespace xenolith::platform::process
