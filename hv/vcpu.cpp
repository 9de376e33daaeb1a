#include "hv/vcpu.hpp"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "abi/xen.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "abi/xenolith.h"
#include "base/error.hpp"
#include "hv/domain.hpp"
#include "hv/hypercall.hpp"
#include "hv/hypercall_page.hpp"
#include "hv/hvm_cpuid.hpp"
#include "hv/hypervisor.hpp"
#include "hv/scheduling.hpp"
#include "hv/pvclock.hpp"

namespace xenolith::hv {

namespace {

// The signal that knocks a vCPU thread out of KVM_RUN. Real-time signals queue and are
// not used by the C library for this; SIGRTMIN itself is left to glibc's internals.
int kick_signal() { return SIGRTMIN + 2; }

thread_local kvm::Vcpu* tls_kvm_vcpu = nullptr;

void on_kick_signal(int) {
    // Covers the window between the thread's last check and KVM_RUN: the ioctl sees the
    // flag and returns at once instead of entering the guest.
    if (tls_kvm_vcpu) tls_kvm_vcpu->request_immediate_exit();
}

void install_kick_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa{};
        sa.sa_handler = on_kick_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;  // no SA_RESTART: ppoll and KVM_RUN return EINTR
        check_syscall(::sigaction(kick_signal(), &sa, nullptr), "sigaction");
    });
}

constexpr uint64_t kRflagsIopl3If = 0x3202;
// The opcode of `out %eax, $imm8` (the hypercall stubs and the notify port use it).
constexpr uint16_t kOutImm8Eax = 0xe7;
constexpr uint64_t kClockRefreshNs = 1'000'000'000;

kvm_segment user_segment(uint16_t selector, bool code) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = code ? 11 : 3;  // execute/read accessed, or read/write accessed
    s.present = 1;
    s.dpl = 3;
    s.db = code ? 0 : 1;
    s.s = 1;
    s.l = code ? 1 : 0;
    s.g = 1;
    return s;
}

}  // namespace

kvm_sregs pv_sregs(kvm_sregs s, const VcpuContext& ctx) {
    // The CPL-3 long-mode state that PVM runs natively (shared/PLATFORM.md); on VT-x/AMD-V
    // it is an ordinary user-mode state.
    s.cs = user_segment(0x2b, true);
    s.ss = s.ds = s.es = user_segment(0x23, false);
    s.fs = user_segment(0x23, false);
    s.gs = user_segment(0x23, false);
    s.fs.base = ctx.fs_base;
    s.gs.base = ctx.gs_base;
    // A 64-bit TSS covering one page: its I/O bitmap decides which ports `out` may reach.
    s.tr = kvm_segment{};
    s.tr.base = ctx.tss_base;
    s.tr.limit = kPageSize - 1;
    s.tr.selector = 0x40;
    s.tr.type = 11;  // busy 64-bit TSS
    s.tr.present = 1;
    constexpr uint64_t PE = 1, MP = 2, ET = 1 << 4, NE = 1 << 5, WP = 1 << 16, AM = 1 << 18,
                       PG = 1ull << 31;
    s.cr0 = PE | MP | ET | NE | WP | AM | PG;
    constexpr uint64_t PAE = 1 << 5, OSFXSR = 1 << 9, OSXMMEXCPT = 1 << 10, FSGSBASE = 1 << 16;
    s.cr4 = PAE | OSFXSR | OSXMMEXCPT | FSGSBASE;
    constexpr uint64_t SCE = 1, LME = 1 << 8, LMA = 1 << 10, NXE = 1 << 11;
    s.efer = SCE | LME | LMA | NXE;
    s.cr3 = ctx.cr3;
    return s;
}

Vcpu::Vcpu(Domain& domain, uint32_t id, kvm::Vcpu kvm)
    : domain_(domain),
      id_(id),
      kvm_(std::move(kvm)),
      unit_(domain.id(), id, static_cast<sched::Time>(TimeSource::system_time_ns())) {
    wake_fd_.reset(static_cast<int>(
        check_syscall(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")));
    // The guest TSC is the host TSC, so one pvclock scale serves every vCPU and RDTSC
    // in the guest and in the host agree (benchmarks compare them directly).
    kvm_.set_tsc_offset(0);
    if (domain.is_pvh()) kvm_.sync_sregs_on_exit();
}

Scheduling& Vcpu::scheduling() const { return domain_.hypervisor().scheduling(); }

Vcpu::~Vcpu() { join(); }

bool Vcpu::initialised() const {
    std::lock_guard lock(mutex_);
    return initialised_;
}

long Vcpu::initialise(const VcpuContext& ctx) {
    std::lock_guard lock(mutex_);
    if (initialised_) return -XEN_EEXIST;
    if (ctx.cr3 % kPageSize != 0 || !domain_.memory().contains(ctx.cr3, kPageSize) ||
        ctx.tss_base % kPageSize != 0 || !domain_.memory().contains(ctx.tss_base, kPageSize))
        return -XEN_EINVAL;
    context_ = ctx;
    initialised_ = true;
    return 0;
}

long Vcpu::up() {
    {
        std::lock_guard lock(mutex_);
        if (!initialised_) return -XEN_EINVAL;
        up_.store(true);
        if (!thread_.joinable()) {
            install_kick_handler();
            thread_ = std::thread([this] { thread_main(); });
        }
    }
    scheduling().refresh(*this);
    kick();
    return 0;
}

long Vcpu::down() {
    up_.store(false);
    scheduling().refresh(*this);
    kick();
    return 0;
}

void Vcpu::preempt_kick() {
    kvm_.request_immediate_exit();
    if (in_guest_.load()) ::pthread_kill(pthread_.load(), kick_signal());
}

void Vcpu::kick() {
    kvm_.request_immediate_exit();
    if (in_guest_.load()) ::pthread_kill(pthread_.load(), kick_signal());
    uint64_t one = 1;
    ssize_t rc = ::write(wake_fd_.get(), &one, sizeof one);
    (void)rc;  // EAGAIN: the counter is already nonzero, which is all a wake needs
}

void Vcpu::join() {
    std::lock_guard join_lock(join_mutex_);
    std::thread t;
    {
        std::lock_guard lock(mutex_);
        t = std::move(thread_);
    }
    if (t.joinable()) {
        kick();
        t.join();
    }
}

vcpu_info_t* Vcpu::vcpu_info() const {
    uint64_t gpa = vcpu_info_gpa_.load(std::memory_order_acquire);
    if (gpa != kNoVcpuInfo) return domain_.memory().object<vcpu_info_t>(gpa);
    shared_info_t* s = domain_.shared_info();
    if (!s || id_ >= XEN_LEGACY_MAX_VCPUS) return nullptr;
    return &s->vcpu_info[id_];
}

long Vcpu::register_vcpu_info(uint64_t mfn, uint64_t offset) {
    if (vcpu_info_gpa_.load() != kNoVcpuInfo) return -XEN_EINVAL;  // once only, as in Xen
    if (offset > kPageSize - sizeof(vcpu_info_t)) return -XEN_EINVAL;
    if (mfn > (UINT64_MAX >> kPageShift)) return -XEN_EINVAL;
    uint64_t gpa = (mfn << kPageShift) + offset;
    auto* fresh = domain_.memory().object<vcpu_info_t>(gpa);
    if (!fresh) return -XEN_EINVAL;
    if (vcpu_info_t* old = vcpu_info()) {
        if (old != fresh) std::memmove(fresh, old, sizeof *fresh);
    } else {
        std::memset(fresh, 0, sizeof *fresh);
        fresh->evtchn_upcall_mask = 1;
    }
    vcpu_info_gpa_.store(gpa, std::memory_order_release);
    // Xen marks everything pending after a move so that nothing raised meanwhile is lost.
    std::atomic_ref<xen_ulong_t>(fresh->evtchn_pending_sel).store(~xen_ulong_t{0});
    std::atomic_ref<uint8_t>(fresh->evtchn_upcall_pending).store(1);
    domain_.time().update(fresh->time);
    return 0;
}

GuestAccess Vcpu::guest() const {
    if (domain_.is_pvh()) return GuestAccess(domain_.memory(), access_cr3_, access_mode_);
    return GuestAccess(domain_.memory(), cr3_);
}

long Vcpu::register_runstate_area(const GuestAccess& guest, uint64_t va) {
    if (va == 0) {  // as Xen: a null handle unregisters
        runstate_gpa_ = kNoArea;
        return 0;
    }
    auto first = guest.translate(va, true);
    auto last = guest.translate(va + sizeof(vcpu_runstate_info_t) - 1, true);
    if (!first || !last || *last != *first + sizeof(vcpu_runstate_info_t) - 1) return -XEN_EFAULT;
    runstate_gpa_ = *first;
    update_runstate_area();
    return 0;
}

void Vcpu::update_runstate_area() {
    if (runstate_gpa_ == kNoArea) return;
    vcpu_runstate_info_t info{};
    get_runstate(info);
    domain_.memory().write(runstate_gpa_, info);
}

void Vcpu::get_runstate(vcpu_runstate_info_t& info) const { info = scheduling().runstate(*this); }

uint64_t Vcpu::cpu_time_ns() const {
    vcpu_runstate_info_t info{};
    get_runstate(info);
    return info.time[RUNSTATE_running];
}

// ---- the vCPU thread ------------------------------------------------------------------

namespace {
// Empty means any CPU. CPUs beyond the host's are dropped; none left is an error.
sched::CpuSet affinity_set(const std::vector<unsigned>& cpus, const sched::CpuSet& host, uint32_t vcpu) {
    if (cpus.empty()) return sched::CpuSet::all();
    sched::CpuSet set;
    for (unsigned cpu : cpus)
        if (host.contains(cpu)) set.add(cpu);
    if (set.empty())
        throw Error("vCPU " + std::to_string(vcpu) + ": none of the CPUs in its affinity is a host CPU");
    return set;
}
}  // namespace

void Vcpu::set_hard_affinity(std::vector<unsigned> cpus) {
    const sched::CpuSet host = scheduling().host_cpus();
    sched::CpuSet hard = affinity_set(cpus, host, id_);
    sched::CpuSet soft = affinity_set(soft_affinity(), host, id_);
    // Outside affinity_mutex_: Scheduling never waits for a Vcpu lock, and this must not
    // hold one while it waits for Scheduling's.
    scheduling().set_affinity(*this, hard, soft);
}

void Vcpu::set_soft_affinity(std::vector<unsigned> cpus) {
    const sched::CpuSet host = scheduling().host_cpus();
    sched::CpuSet soft = cpus.empty() ? sched::CpuSet::all() : sched::CpuSet{};
    for (unsigned cpu : cpus)
        if (host.contains(cpu)) soft.add(cpu);
    scheduling().set_affinity(*this, scheduling().hard_affinity(*this), soft);
    std::lock_guard lock(affinity_mutex_);
    soft_affinity_ = std::move(cpus);
}

std::vector<unsigned> Vcpu::hard_affinity() const {
    // What the scheduler enforces, not what was last asked for: moving to a pool that has
    // none of those CPUs resets it to any CPU, as Xen breaks such an affinity.
    const sched::CpuSet host = scheduling().host_cpus();
    const sched::CpuSet set = scheduling().hard_affinity(*this) & host;
    if (set == host) return {};
    return set.list();
}

std::vector<unsigned> Vcpu::soft_affinity() const {
    std::lock_guard lock(affinity_mutex_);
    return soft_affinity_;
}

std::optional<unsigned> Vcpu::last_cpu() const {
    int cpu = last_cpu_.load(std::memory_order_relaxed);
    if (cpu == kNoCpu) return std::nullopt;
    return static_cast<unsigned>(cpu);
}

void Vcpu::thread_main() {
    tls_kvm_vcpu = &kvm_;
    pthread_.store(::pthread_self());
    holds_cpu_ = &scheduling().holds_cpu(*this);
    {
        sigevent sev{};
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = kick_signal();
        sev._sigev_un._tid = static_cast<pid_t>(::syscall(SYS_gettid));
        has_posix_timer_ = ::timer_create(CLOCK_MONOTONIC, &sev, &posix_timer_) == 0;
    }
    try {
        apply_context();
        while (prepare_to_run()) {
            in_guest_.store(true);
            bool exited = kvm_.run();
            in_guest_.store(false);
            if (exited) handle_exit();
        }
    } catch (const std::exception& e) {
        // A host-side failure (an ioctl, memory) is not the guest's fault, but the domain
        // cannot go on: report it as a crash with the reason.
        domain_.crash(id_, std::string("vCPU ") + std::to_string(id_) + ": host error: " + e.what());
    } catch (...) {
        // fatal() unwinds with a non-std exception after recording the crash.
    }
    in_guest_.store(false);
    try {
        scheduling().thread_exit(*this);
    } catch (const std::exception&) {
    }
    if (has_posix_timer_) ::timer_delete(posix_timer_);
    has_posix_timer_ = false;
    tls_kvm_vcpu = nullptr;
}

void Vcpu::apply_context() {
    VcpuContext ctx;
    {
        std::lock_guard lock(mutex_);
        ctx = *context_;
        context_.reset();
    }
    if (domain_.is_pvh()) {
        // Without sregs (a secondary vCPU) KVM's reset state stays: the in-kernel LAPIC
        // holds the vCPU until the guest starts it with INIT and SIPI, as on hardware.
        if (ctx.sregs) {
            kvm_.set_sregs(*ctx.sregs);
            kvm_.regs() = ctx.regs;
            kvm_.mark_regs_dirty();
        }
        refresh_clock();
        return;
    }
    kvm_.set_sregs(pv_sregs(kvm_.get_sregs(), ctx));
    cr3_ = ctx.cr3;
    event_callback_ = ctx.event_callback;
    kvm_.regs() = ctx.regs;
    kvm_.regs().rflags = kRflagsIopl3If;
    kvm_.mark_regs_dirty();
    refresh_clock();
}

struct FatalExit {};

void Vcpu::fatal(const std::string& why) {
    // Faulting on the callback's first instruction with the frame just written means no
    // guest instruction ran since delivery: the fault was already pending for the
    // interrupted code (a kick can land between a fault and its injection, and PVM does not
    // report it as pending), so report that code's registers. PV guests here have no
    // exception handlers, so every fault is fatal and this is the only place it matters.
    kvm_regs& r = kvm_.regs();
    std::string note;
    if (last_upcall_ && r.rip == event_callback_ && r.rsp == last_upcall_->frame) {
        r.rip = last_upcall_->rip;
        r.rsp = last_upcall_->rsp;
        r.rflags = last_upcall_->rflags;
        note = " (raised as an event upcall was being delivered)";
    }
    domain_.crash(id_, why + note + "\n" + register_dump());
    throw FatalExit{};
}

bool Vcpu::prepare_to_run() {
    for (;;) {
        // Clear first, then look: a kick that lands after the look sets it again.
        kvm_.clear_immediate_exit();
        if (domain_.stopping()) return false;
        if (!up_.load() || domain_.paused()) {
            // Down or paused: whoever did it made the unit offline (Scheduling::refresh).
            scheduling().leave(*this);
            while (!domain_.stopping() && (!up_.load() || domain_.paused())) wait_for_wake(0);
            continue;
        }
        // The one check per exit on the hot path: an atomic load, no lock.
        if (!holds_cpu_->load(std::memory_order_acquire)) {
            // Not dispatched, or pre-empted: leave the CPU and wait for the next one.
            std::optional<sched::Cpu> cpu = scheduling().enter(*this);
            if (!cpu) return false;  // cancelled: the domain is stopping
            if (static_cast<int>(*cpu) != pinned_cpu_) {
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(*cpu, &set);
                // May fail where the process may not use that CPU (taskset): run anyway.
                if (::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0)
                    pinned_cpu_ = static_cast<int>(*cpu);
            }
            last_cpu_.store(static_cast<int>(*cpu), std::memory_order_relaxed);
            continue;  // the wait may have been long: look at everything again
        }
        break;
    }
    check_timer();
    if (TimeSource::system_time_ns() - last_clock_update_ > kClockRefreshNs) refresh_clock();
    deliver_upcall_if_due();
    return true;
}

void Vcpu::refresh_clock() {
    if (vcpu_info_t* vi = vcpu_info()) domain_.time().update(vi->time);
    update_runstate_area();
    last_clock_update_ = TimeSource::system_time_ns();
}

void Vcpu::handle_exit() {
    counters_.exits.fetch_add(1, std::memory_order_relaxed);
    kvm_run* run = kvm_.run_area();
    if (run->exit_reason != KVM_EXIT_SHUTDOWN) last_upcall_.reset();  // the guest ran on
    if (domain_.is_pvh() && handle_pvh_exit()) return;
    char buf[160];
    switch (run->exit_reason) {
        case KVM_EXIT_IO:
            if (run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 4 && run->io.count == 1) {
                if (run->io.port == XENOLITH_HYPERCALL_PORT) {
                    handle_hypercall();
                    return;
                }
                if (run->io.port == XENOLITH_NOTIFY_PORT) {
                    // The notify port's slow path (no backend caught it in the kernel): an
                    // EVTCHNOP_send with no result to return, so a bad port is just ignored.
                    uint32_t port;
                    std::memcpy(&port, reinterpret_cast<uint8_t*>(run) + run->io.data_offset, sizeof port);
                    domain_.evtchn().send(port);
                    return;
                }
            }
            std::snprintf(buf, sizeof buf, "guest port I/O %s port 0x%x size %u (not a hypercall)",
                          run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", run->io.port,
                          run->io.size);
            fatal(buf);
        case KVM_EXIT_SHUTDOWN: fatal("guest exception (the vCPU faulted)");
        case KVM_EXIT_MMIO:
            std::snprintf(buf, sizeof buf, "guest access to 0x%" PRIx64 " outside its RAM",
                          static_cast<uint64_t>(run->mmio.phys_addr));
            fatal(buf);
        case KVM_EXIT_INTERNAL_ERROR:
            std::snprintf(buf, sizeof buf, "KVM internal error, suberror %u", run->internal.suberror);
            fatal(buf);
        case KVM_EXIT_FAIL_ENTRY:
            std::snprintf(buf, sizeof buf, "KVM entry failure, reason 0x%llx",
                          static_cast<unsigned long long>(run->fail_entry.hardware_entry_failure_reason));
            fatal(buf);
        case KVM_EXIT_INTR: return;
        default:
            std::snprintf(buf, sizeof buf, "unexpected KVM exit reason %u", run->exit_reason);
            fatal(buf);
    }
}

void Vcpu::handle_hypercall() {
    kvm_run* run = kvm_.run_area();
    uint32_t nr;
    std::memcpy(&nr, reinterpret_cast<uint8_t*>(run) + run->io.data_offset, sizeof nr);
    run_hypercall(nr);
}

void Vcpu::run_hypercall(uint64_t nr) {
    counters_.hypercalls.fetch_add(1, std::memory_order_relaxed);
    if (domain_.is_pvh()) {
        // Arguments are addresses in whatever paging mode the guest is in right now.
        const kvm_sregs s = kvm_.exit_sregs();
        constexpr uint64_t kCr0Pg = 1ull << 31, kEferLma = 1ull << 10;
        access_cr3_ = s.cr3;
        if (!(s.cr0 & kCr0Pg)) access_mode_ = GuestAccess::Mode::Physical;
        else if (s.efer & kEferLma) access_mode_ = GuestAccess::Mode::Kernel64;
        else access_mode_ = GuestAccess::Mode::Unsupported;
    }
    kvm_regs& r = kvm_.regs();
    HypercallArgs args{r.rdi, r.rsi, r.rdx, r.r10, r.r8};
    HypercallContext ctx{domain_, *this, guest()};
    long ret = dispatch_hypercall(ctx, nr, args);
    // The handler may have blocked; the registers in kvm_run are still this exit's.
    kvm_.regs().rax = static_cast<uint64_t>(ret);
    kvm_.mark_regs_dirty();
}

void Vcpu::deliver_upcall_if_due() {
    if (domain_.is_pvh()) {
        // An interrupt vector through the in-kernel LAPIC, as Xen's HVM callback. The
        // guest clears evtchn_upcall_pending in its handler; while it stays set the vector
        // is raised again at each return to the guest (the LAPIC's IRR holds one), which is
        // Xen's level-like callback-via-vector behaviour, so nothing raised is ever lost.
        uint8_t vector = upcall_vector_.load();
        if (!vector) {
            // The domain-wide callback vector: Xen raises it without a LAPIC in-service
            // entry, so guests never EOI it (Linux EOIs only per-vCPU upcall vectors).
            // Through KVM's LAPIC it would stay in service after delivery and hold back
            // every interrupt of its priority class and below; retire it between runs.
            vector = domain_.callback_vector();
            if (!vector) return;
            kvm_.clear_in_service(vector);
        }
        vcpu_info_t* vi = vcpu_info();
        if (!vi || !std::atomic_ref<uint8_t>(vi->evtchn_upcall_pending).load()) return;
        domain_.vm().signal_msi(id_, vector);
        counters_.upcalls.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (!event_callback_) return;
    vcpu_info_t* vi = vcpu_info();
    if (!vi) return;
    if (!std::atomic_ref<uint8_t>(vi->evtchn_upcall_pending).load() ||
        std::atomic_ref<uint8_t>(vi->evtchn_upcall_mask).load())
        return;
    kvm_regs& r = kvm_.regs();
    uint64_t frame = r.rsp - XENOLITH_UPCALL_FRAME_OFFSET;
    // On VT-x/AMD-V a port-I/O exit leaves RIP on the `out`, and KVM steps over it at the
    // next KVM_RUN only if RIP is unchanged; since the upcall changes RIP, the frame must
    // hold the address after that `out %eax, $port` (PVM's emulator has already moved it).
    uint64_t resume = r.rip;
    const kvm_run* run = kvm_.run_area();
    if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT) {
        auto insn = guest().read<uint16_t>(r.rip);
        if (insn && *insn == (kOutImm8Eax | (run->io.port << 8))) resume += 2;
    }
    const uint64_t saved[3] = {r.rflags, resume, r.rsp};
    if (r.rsp < XENOLITH_UPCALL_FRAME_OFFSET ||
        !guest().copy_to(frame, {reinterpret_cast<const uint8_t*>(saved), sizeof saved})) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "event upcall frame at 0x%" PRIx64 " is not writable guest memory",
                      frame);
        fatal(buf);
    }
    std::atomic_ref<uint8_t>(vi->evtchn_upcall_mask).store(1);
    last_upcall_ = InterruptedContext{frame, resume, r.rsp, r.rflags};
    r.rsp = frame;
    r.rip = event_callback_;
    kvm_.mark_regs_dirty();
    counters_.upcalls.fetch_add(1, std::memory_order_relaxed);
}

void Vcpu::set_timer(uint64_t deadline_ns) {
    timer_deadline_ = deadline_ns;
    if (!has_posix_timer_) return;
    itimerspec spec{};
    if (deadline_ns) {
        spec.it_value.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000);
        spec.it_value.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000);
        if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    }
    ::timer_settime(posix_timer_, TIMER_ABSTIME, &spec, nullptr);
}

void Vcpu::check_timer() {
    if (timer_deadline_ && TimeSource::system_time_ns() >= timer_deadline_) {
        timer_deadline_ = 0;
        domain_.evtchn().raise_virq(VIRQ_TIMER, id_);
    }
}

void Vcpu::wait_for_wake(uint64_t deadline_ns) {
    pollfd pfd{wake_fd_.get(), POLLIN, 0};
    timespec ts{}, *timeout = nullptr;
    if (deadline_ns) {
        uint64_t now = TimeSource::system_time_ns();
        uint64_t left = deadline_ns > now ? deadline_ns - now : 0;
        ts.tv_sec = static_cast<time_t>(left / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(left % 1'000'000'000);
        timeout = &ts;
    }
    ::ppoll(&pfd, 1, timeout, nullptr);
    uint64_t drained;
    ssize_t rc = ::read(wake_fd_.get(), &drained, sizeof drained);
    (void)rc;
}

template <class Woken>
void Vcpu::sleep_until(Woken woken, uint64_t timeout_ns) {
    bool told = false;
    while (!domain_.stopping()) {
        check_timer();
        if (woken()) break;
        if (!up_.load()) break;  // taken down meanwhile: the run loop parks it
        if (timeout_ns && TimeSource::system_time_ns() >= timeout_ns) break;
        if (!told) {
            // Tell the scheduler, then look again before sleeping: an event that arrives
            // after this look writes the wake eventfd, so ppoll returns at once.
            scheduling().sleep(*this);
            told = true;
            continue;
        }
        uint64_t wake = timer_deadline_;
        if (timeout_ns && (!wake || timeout_ns < wake)) wake = timeout_ns;
        wait_for_wake(wake);
    }
    // The thread itself turns its wake-up into a scheduler wake: every way to end the
    // sleep (event delivery, the timer signal, a kick) lands here, and spurious kicks
    // never reach the scheduler.
    if (told) scheduling().wake(*this);
}

long Vcpu::block() {
    vcpu_info_t* vi = vcpu_info();
    // SCHEDOP_block re-enables event delivery, as in Xen, so that an event raised just
    // before the call cannot be missed.
    if (vi) std::atomic_ref<uint8_t>(vi->evtchn_upcall_mask).store(0);
    sleep_until([&] { return vi && std::atomic_ref<uint8_t>(vi->evtchn_upcall_pending).load(); }, 0);
    refresh_clock();
    return 0;
}

long Vcpu::poll(std::span<const uint32_t> ports, uint64_t timeout_ns) {
    for (uint32_t p : ports)
        if (!domain_.evtchn().is_valid(p)) return -XEN_EINVAL;
    vcpu_info_t* vi = vcpu_info();
    sleep_until(
        [&] {
            if (std::any_of(ports.begin(), ports.end(),
                            [&](uint32_t p) { return domain_.evtchn().is_pending(p); }))
                return true;
            // As Xen: an event due for delivery ends the poll too.
            return vi && std::atomic_ref<uint8_t>(vi->evtchn_upcall_pending).load() &&
                   !std::atomic_ref<uint8_t>(vi->evtchn_upcall_mask).load();
        },
        timeout_ns);
    refresh_clock();
    return 0;
}

bool Vcpu::handle_pvh_exit() {
    kvm_run* run = kvm_.run_area();
    switch (run->exit_reason) {
        case KVM_EXIT_IO:
            // The hypercall page's stubs use the PV path; any other port has no device.
            if (run->io.port == XENOLITH_HYPERCALL_PORT) return false;
            pvh_port_io();
            return true;
        case KVM_EXIT_MMIO:
            // No device model: reads of unbacked addresses see all ones (an absent
            // device), writes go nowhere.
            if (!run->mmio.is_write) std::memset(run->mmio.data, 0xff, sizeof run->mmio.data);
            return true;
        case KVM_EXIT_X86_RDMSR:
        case KVM_EXIT_X86_WRMSR: pvh_msr(); return true;
        case KVM_EXIT_SHUTDOWN: fatal("triple fault (the guest reset its vCPU)");
        default: return false;
    }
}

void Vcpu::pvh_port_io() {
    kvm_run* run = kvm_.run_area();
    uint8_t* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
    const size_t bytes = size_t{run->io.size} * run->io.count;
    if (run->io.direction == KVM_EXIT_IO_IN) {
        std::memset(data, 0xff, bytes);
        return;
    }
    if (bytes == 0) return;
    const uint8_t value = data[0];
    if (run->io.port == domain_.acpi_sleep_port() && domain_.acpi_sleep_port() != 0) {
        // ACPI sleep control register (hardware-reduced ACPI): SLP_EN (bit 5) with
        // SLP_TYP (bits 4:2) = 5, the _S5 value the DSDT gives, is "soft off".
        constexpr uint8_t kSlpEn = 1u << 5;
        if ((value & kSlpEn) && ((value >> 2) & 7) == 5) domain_.shutdown(SHUTDOWN_poweroff);
    } else if (run->io.port == domain_.acpi_reset_port() && domain_.acpi_reset_port() != 0) {
        if (value == domain_.acpi_reset_value()) domain_.shutdown(SHUTDOWN_reboot);
    }
}

void Vcpu::pvh_msr() {
    kvm_run* run = kvm_.run_area();
    run->msr.error = 1;  // #GP unless handled: as for an MSR that does not exist
    if (run->exit_reason != KVM_EXIT_X86_WRMSR || run->msr.index != kXenHypercallMsr) return;
    // The value is the page's guest-physical address; the low 12 bits select which
    // hypercall page, and there is one.
    const uint64_t gpa = run->msr.data & ~(kPageSize - 1);
    if ((run->msr.data & (kPageSize - 1)) != 0) return;
    auto page = domain_.memory().span(gpa, kPageSize);
    if (page.empty()) return;
    write_hypercall_page(page);
    run->msr.error = 0;
}

std::string Vcpu::register_dump() {
    const kvm_regs& r = kvm_.regs();
    kvm_sregs s{};
    try {
        s = kvm_.get_sregs();
    } catch (const std::exception&) {
    }
    char buf[1024];
    std::string rip_symbol = domain_.symbolize(r.rip);
    std::snprintf(
        buf, sizeof buf,
        "RIP: %016llx%s%s\nRSP: %016llx  RFLAGS: %016llx\n"
        "RAX: %016llx  RBX: %016llx  RCX: %016llx\n"
        "RDX: %016llx  RSI: %016llx  RDI: %016llx\n"
        "RBP: %016llx  R8:  %016llx  R9:  %016llx\n"
        "R10: %016llx  R11: %016llx  R12: %016llx\n"
        "R13: %016llx  R14: %016llx  R15: %016llx\n"
        "CR2: %016llx  CR3: %016llx",
        r.rip, rip_symbol.empty() ? "" : " ", rip_symbol.c_str(), r.rsp, r.rflags, r.rax, r.rbx,
        r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
        s.cr2, s.cr3);
    return buf;
}

}  // namespace xenolith::hv
