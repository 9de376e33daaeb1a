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
#include "hv/hypercall_names.hpp"
#include "hv/hypercall_page.hpp"
#include "hv/hypervisor.hpp"
#include "hv/pvclock.hpp"
#include "hv/scheduling.hpp"

namespace xenolith::hv {

namespace {
constexpr uint64_t kClockRefreshNs = 1'000'000'000;
}  // namespace

Vcpu::Vcpu(Domain& domain, uint32_t id, std::unique_ptr<platform::Vcpu> cpu)
    : domain_(domain),
      id_(id),
      cpu_(std::move(cpu)),
      unit_(domain.id(), id, static_cast<sched::Time>(TimeSource::system_time_ns())) {
    wake_fd_.reset(
        static_cast<int>(check_syscall(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")));
}

Scheduling& Vcpu::scheduling() const {
    return domain_.hypervisor().scheduling();
}

Vcpu::~Vcpu() {
    join();
}

bool Vcpu::initialised() const {
    std::lock_guard lock(mutex_);
    return initialised_;
}

long Vcpu::initialise(const VcpuContext& ctx) {
    std::lock_guard lock(mutex_);
    if (initialised_) return -XEN_EEXIST;
    const platform::BootContext& boot = ctx.boot;
    if (boot.cr3 % kPageSize != 0 || !domain_.memory().contains(boot.cr3, kPageSize) ||
        boot.tss_base % kPageSize != 0 || !domain_.memory().contains(boot.tss_base, kPageSize))
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
            domain_.vcpu_thread_started();
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
    cpu_->request_exit();
}

void Vcpu::kick() {
    cpu_->request_exit();
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
    domain_.stamp_time(fresh->time);
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

void Vcpu::get_runstate(vcpu_runstate_info_t& info) const {
    info = scheduling().runstate(*this);
}

uint64_t Vcpu::cpu_time_ns() const {
    vcpu_runstate_info_t info{};
    get_runstate(info);
    return info.time[RUNSTATE_running];
}

// ---- the vCPU thread ------------------------------------------------------------------

namespace {
// Empty means any CPU. CPUs beyond the host's are dropped; none left is an error.
sched::CpuSet affinity_set(const std::vector<unsigned>& cpus, const sched::CpuSet& host,
                           uint32_t vcpu) {
    if (cpus.empty()) return sched::CpuSet::all();
    sched::CpuSet set;
    for (unsigned cpu : cpus)
        if (host.contains(cpu)) set.add(cpu);
    if (set.empty())
        throw Error("vCPU " + std::to_string(vcpu) +
                    ": none of the CPUs in its affinity is a host CPU");
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
    holds_cpu_ = &scheduling().holds_cpu(*this);
    {
        sigevent sev{};
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = platform::kick_signal();
        sev._sigev_un._tid = static_cast<pid_t>(::syscall(SYS_gettid));
        has_posix_timer_ = ::timer_create(CLOCK_MONOTONIC, &sev, &posix_timer_) == 0;
    }
    try {
        apply_context();
        while (prepare_to_run()) handle_exit(cpu_->run());
    } catch (const std::exception& e) {
        // A host-side failure (an ioctl, memory) is not the guest's fault, but the domain
        // cannot go on: report it as a crash with the reason.
        domain_.crash(id_,
                      std::string("vCPU ") + std::to_string(id_) + ": host error: " + e.what());
    } catch (...) {
        // fatal() unwinds with a non-std exception after recording the crash.
    }
    try {
        scheduling().thread_exit(*this);
    } catch (const std::exception&) {
    }
    if (has_posix_timer_) ::timer_delete(posix_timer_);
    has_posix_timer_ = false;
    platform::bind_kick_target(nullptr);
    domain_.vcpu_thread_exited();
}

void Vcpu::apply_context() {
    VcpuContext ctx;
    {
        std::lock_guard lock(mutex_);
        ctx = *context_;
        context_.reset();
    }
    cpu_->boot(ctx.boot);
    cr3_ = ctx.boot.cr3;
    event_callback_ = ctx.event_callback;
    if (ctx.timer_deadline) set_timer(ctx.timer_deadline);
    refresh_clock();
}

struct FatalExit {};

void Vcpu::fatal(const std::string& why, uint64_t fault_address) {
    // Faulting on the callback's first instruction with the frame just written means no
    // guest instruction ran since delivery: the fault was already pending for the
    // interrupted code (a kick can land between a fault and its injection, and PVM does not
    // report it as pending), so report that code's registers. PV guests here have no
    // exception handlers, so every fault is fatal and this is the only place it matters.
    platform::Registers& r = cpu_->regs();
    std::string note;
    if (last_upcall_ && r.rip == event_callback_ && r.rsp == last_upcall_->frame) {
        r.rip = last_upcall_->rip;
        r.rsp = last_upcall_->rsp;
        r.rflags = last_upcall_->rflags;
        note = " (raised as an event upcall was being delivered)";
    }
    domain_.crash(id_, why + note + "\n" + register_dump(fault_address));
    throw FatalExit{};
}

bool Vcpu::prepare_to_run() {
    for (;;) {
        // Clear first, then look: a kick that lands after the look sets it again.
        cpu_->clear_exit_request();
        if (domain_.stopping()) return false;
        if (save_requested()) serve_save_request(false);
        // A debugger may stop a vCPU that is paused or down, too.
        if (debug_stop_requested_.load(std::memory_order_acquire) &&
            debug_stop(DebugHook::Reason::Requested, !up_.load() || domain_.paused()))
            continue;
        if (!up_.load() || domain_.paused()) {
            // Down or paused: whoever did it made the unit offline (Scheduling::refresh).
            scheduling().leave(*this);
            while (!domain_.stopping() && (!up_.load() || domain_.paused()) &&
                   !debug_stop_requested_.load() && !save_requested())
                wait_for_wake(0);
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
                if (::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0) {
                    pinned_cpu_ = static_cast<int>(*cpu);
                    cpu_->follow_host_cpu(*cpu);
                    // The guest's TSC is now this CPU's: stamp its clock here (KVM does the
                    // same when a vCPU moves), lest another CPU's TSC skew show in it.
                    last_clock_update_ = 0;
                }
            }
            last_cpu_.store(static_cast<int>(*cpu), std::memory_order_relaxed);
            continue;  // the wait may have been long: look at everything again
        }
        break;
    }
    if (domain_.probe_generation() != probe_generation_) sync_probe();
    check_timer();
    if (TimeSource::system_time_ns() - last_clock_update_ > kClockRefreshNs) refresh_clock();
    // A debugger's single step runs the instruction at RIP, not an event callback's first.
    // Nor may an upcall come between a watched write and its instruction's next run.
    if (!stepping_ && !std::exchange(write_runs_next_, false)) deliver_upcall_if_due();
    return true;
}

void Vcpu::refresh_clock() {
    if (vcpu_info_t* vi = vcpu_info()) domain_.stamp_time(vi->time);
    update_runstate_area();
    last_clock_update_ = TimeSource::system_time_ns();
}

void Vcpu::handle_exit(const platform::Exit& exit) {
    counters_.exits.fetch_add(1, std::memory_order_relaxed);
    using Kind = platform::Exit::Kind;
    if (exit.kind != Kind::Fault) last_upcall_.reset();  // the guest ran on
    switch (exit.kind) {
        case Kind::Hypercall:
            run_hypercall(exit.value);
            // A stepped `out` traps as the hypercall it is: that was the one instruction.
            if (stepping_) debug_stop(DebugHook::Reason::SingleStep);
            return;
        case Kind::Notify:
            // The notify port's slow path (no backend caught it before the hypervisor): an
            // EVTCHNOP_send with no result to return, so a bad port is just ignored.
            domain_.evtchn().send(static_cast<uint32_t>(exit.value));
            if (stepping_) debug_stop(DebugHook::Reason::SingleStep);
            return;
        case Kind::Debug:
            handle_debug_exit(exit);
            return;
        case Kind::Interrupted:
            return;
        case Kind::Fault:
            fatal(exit.what, exit.fault_address);
        case Kind::PowerOff:
            domain_.shutdown(SHUTDOWN_poweroff);
            return;
        case Kind::Reboot:
            domain_.shutdown(SHUTDOWN_reboot);
            return;
        case Kind::HypercallPage:
            install_hypercall_page(exit.value);
            return;
    }
}

void Vcpu::run_hypercall(uint64_t nr) {
    counters_.hypercalls.fetch_add(1, std::memory_order_relaxed);
    if (hypercall_stops_.load(std::memory_order_relaxed)) {
        // A debugger sees the call before it is made, and may change its arguments (the
        // registers are read after it lets go) or crash the domain instead.
        stopped_hypercall_ = nr;
        debug_stop(DebugHook::Reason::Hypercall);
        if (domain_.stopping()) return;
    }
    // Arguments are addresses in whatever paging mode the guest is in right now.
    if (domain_.is_pvh()) refresh_pvh_access();
    platform::Registers& r = cpu_->regs();
    HypercallArgs args{r.rdi, r.rsi, r.rdx, r.r10, r.r8};
    HypercallContext ctx{domain_, *this, guest()};
    long ret = dispatch_hypercall(ctx, nr, args);
    if (domain_.tracing_hypercalls())
        domain_.trace_hypercall({.time_ns = TimeSource::system_time_ns(),
                                 .vcpu = id_,
                                 .nr = nr,
                                 .result = ret,
                                 .text = describe_hypercall(nr, args, ret, ctx.guest)});
    // The handler may have blocked; the registers are still this exit's.
    cpu_->regs().rax = static_cast<uint64_t>(ret);
    cpu_->mark_regs_dirty();
}

void Vcpu::deliver_pvh_upcall() {
    // An interrupt vector through the in-kernel LAPIC, as Xen's HVM callback. The guest
    // clears evtchn_upcall_pending in its handler; while it stays set the vector is raised
    // again at each return to the guest (the LAPIC's IRR holds one), which is Xen's
    // level-like callback-via-vector behaviour, so nothing raised is ever lost.
    uint8_t vector = upcall_vector_.load();
    if (!vector) {
        // The domain-wide callback vector: Xen raises it without a LAPIC in-service entry,
        // so guests never EOI it (Linux EOIs only per-vCPU upcall vectors). Through KVM's
        // LAPIC it would stay in service after delivery and hold back every interrupt of
        // its priority class and below; retire it between runs.
        vector = domain_.callback_vector();
        if (!vector) return;
        cpu_->retire_vector(vector);
    }
    vcpu_info_t* vi = vcpu_info();
    if (!vi || !std::atomic_ref<uint8_t>(vi->evtchn_upcall_pending).load()) return;
    domain_.platform_vm().raise_vector(id_, vector);
    counters_.upcalls.fetch_add(1, std::memory_order_relaxed);
}

void Vcpu::deliver_upcall_if_due() {
    if (domain_.is_pvh()) return deliver_pvh_upcall();
    if (!event_callback_) return;
    vcpu_info_t* vi = vcpu_info();
    if (!vi) return;
    if (!std::atomic_ref<uint8_t>(vi->evtchn_upcall_pending).load() ||
        std::atomic_ref<uint8_t>(vi->evtchn_upcall_mask).load())
        return;
    platform::Registers& r = cpu_->regs();
    // The platform reports RIP past a trapping `out` already, so the frame holds where the
    // interrupted code goes on.
    const uint64_t frame = r.rsp - XENOLITH_UPCALL_FRAME_OFFSET;
    const uint64_t saved[3] = {r.rflags, r.rip, r.rsp};
    if (r.rsp < XENOLITH_UPCALL_FRAME_OFFSET ||
        !guest().copy_to(frame, {reinterpret_cast<const uint8_t*>(saved), sizeof saved})) {
        char buf[96];
        std::snprintf(buf, sizeof buf,
                      "event upcall frame at 0x%" PRIx64 " is not writable guest memory", frame);
        fatal(buf);
    }
    std::atomic_ref<uint8_t>(vi->evtchn_upcall_mask).store(1);
    last_upcall_ = InterruptedContext{frame, r.rip, r.rsp, r.rflags};
    r.rsp = frame;
    r.rip = event_callback_;
    cpu_->mark_regs_dirty();
    counters_.upcalls.fetch_add(1, std::memory_order_relaxed);
}

void Vcpu::set_timer(uint64_t deadline_ns) {
    timer_deadline_ = deadline_ns;
    if (!has_posix_timer_) return;
    itimerspec spec{};
    if (deadline_ns) {
        // The deadline is in the domain's time; the timer counts the host's.
        const uint64_t host = deadline_ns - static_cast<uint64_t>(domain_.time_offset_ns());
        spec.it_value.tv_sec = static_cast<time_t>(host / 1'000'000'000);
        spec.it_value.tv_nsec = static_cast<long>(host % 1'000'000'000);
        if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    }
    ::timer_settime(posix_timer_, TIMER_ABSTIME, &spec, nullptr);
}

void Vcpu::check_timer() {
    if (timer_deadline_ && domain_.guest_time_ns() >= timer_deadline_) {
        timer_deadline_ = 0;
        domain_.evtchn().raise_virq(VIRQ_TIMER, id_);
    }
}

void Vcpu::wait_for_wake(uint64_t deadline_ns) {
    pollfd pfd{wake_fd_.get(), POLLIN, 0};
    timespec ts{}, *timeout = nullptr;
    if (deadline_ns) {
        uint64_t now = domain_.guest_time_ns();
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
        // A debugger stops a sleeping vCPU where it sleeps: it goes on sleeping afterwards.
        if (debug_stop_requested_.load(std::memory_order_acquire)) {
            if (!told) scheduling().sleep(*this);
            debug_stop(DebugHook::Reason::Requested, true);
            if (!told) scheduling().wake(*this);
            continue;
        }
        // Saved where it sleeps: the state says the call returned (it may, early).
        if (save_requested()) serve_save_request(true);
        if (woken()) break;
        if (!up_.load()) break;  // taken down meanwhile: the run loop parks it
        if (timeout_ns && domain_.guest_time_ns() >= timeout_ns) break;
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
    sleep_until([&] { return vi && std::atomic_ref<uint8_t>(vi->evtchn_upcall_pending).load(); },
                0);
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

void Vcpu::install_hypercall_page(uint64_t msr_value) {
    // The value is the page's guest-physical address; the low 12 bits select which
    // hypercall page, and there is one.
    const uint64_t gpa = msr_value & ~(kPageSize - 1);
    auto page = (msr_value & (kPageSize - 1)) == 0 ? domain_.memory().span(gpa, kPageSize)
                                                   : std::span<uint8_t>{};
    if (!page.empty()) write_hypercall_page(page);
    cpu_->complete_hypercall_page(!page.empty());
}

// ---- save/restore -----------------------------------------------------------------------

VcpuState Vcpu::save_state(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!thread_.joinable()) {
        // Never run: the state is the context it would start from, if it has one.
        VcpuState s;
        if (!context_) return s;
        s.initialised = true;
        s.up = up_.load();
        s.regs = context_->boot.regs;
        s.cr3 = context_->boot.cr3;
        s.ext = {context_->boot.fs_base, context_->boot.gs_base,
                 context_->boot.fpu.value_or(platform::FpuState::initial())};
        s.event_callback = context_->event_callback;
        s.vcpu_info_gpa = vcpu_info_gpa_.load();
        s.timer_deadline = context_->timer_deadline;
        return s;
    }
    SaveRequest request;
    save_request_ = &request;
    save_requested_.store(true, std::memory_order_release);
    kick();
    if (!save_answered_.wait_for(lock, timeout, [&] { return request.done; })) {
        save_request_ = nullptr;
        save_requested_.store(false);
        throw Error("vCPU " + std::to_string(id_) + " did not stop to be saved within " +
                    std::to_string(timeout.count()) + " ms");
    }
    if (!request.error.empty()) throw Error("vCPU " + std::to_string(id_) + ": " + request.error);
    return std::move(request.state);
}

void Vcpu::serve_save_request(bool asleep) {
    std::lock_guard lock(mutex_);
    save_requested_.store(false);
    SaveRequest* request = std::exchange(save_request_, nullptr);
    if (!request) return;
    try {
        VcpuState& s = request->state;
        s.initialised = true;
        s.up = up_.load();
        s.regs = cpu_->regs();
        if (asleep) s.regs.rax = 0;  // SCHEDOP_block/poll's result, not yet written
        s.cr3 = cpu_->control_registers().cr3;
        s.ext = cpu_->extended_state();
        s.event_callback = event_callback_;
        s.vcpu_info_gpa = vcpu_info_gpa_.load();
        s.runstate_gpa = runstate_gpa_;
        s.timer_deadline = timer_deadline_.load();
    } catch (const std::exception& e) {
        request->error = e.what();
    }
    request->done = true;
    save_answered_.notify_all();
}

long Vcpu::restore_state(const VcpuState& s) {
    if (!s.initialised) return 0;
    if (s.vcpu_info_gpa != VcpuState::kNone &&
        (s.vcpu_info_gpa > domain_.memory().size() ||
         !domain_.memory().object<vcpu_info_t>(s.vcpu_info_gpa)))
        return -XEN_EINVAL;
    if (s.runstate_gpa != VcpuState::kNone &&
        !domain_.memory().contains(s.runstate_gpa, sizeof(vcpu_runstate_info_t)))
        return -XEN_EINVAL;
    VcpuContext ctx;
    ctx.boot.mode = platform::BootContext::Mode::PvUser64;
    ctx.boot.regs = s.regs;
    ctx.boot.cr3 = s.cr3;
    ctx.boot.fs_base = s.ext.fs_base;
    ctx.boot.gs_base = s.ext.gs_base;
    ctx.boot.tss_base = domain_.boot_tss();
    ctx.boot.fpu = s.ext.fpu;
    ctx.event_callback = s.event_callback;
    ctx.timer_deadline = s.timer_deadline;
    if (long rc = initialise(ctx); rc != 0) return rc;
    vcpu_info_gpa_.store(s.vcpu_info_gpa, std::memory_order_release);
    runstate_gpa_ = s.runstate_gpa;  // the thread has not started: nobody else reads it
    up_on_start_ = s.up;
    return 0;
}

// ---- introspection ----------------------------------------------------------------------

bool Vcpu::set_debug_hook(DebugHook* hook) {
    if (hook) {
        DebugHook* none = nullptr;
        return debug_hook_.compare_exchange_strong(none, hook);
    }
    debug_hook_.store(nullptr);
    debug_stop_requested_.store(false);
    // The vCPU thread may be inside the old hook: wait until it has left.
    std::lock_guard lock(debug_mutex_);
    return true;
}

void Vcpu::request_debug_stop() {
    debug_stop_requested_.store(true, std::memory_order_release);
    kick();
}

void Vcpu::refresh_pvh_access() {
    const platform::ControlRegisters s = cpu_->control_registers();
    constexpr uint64_t kCr0Pg = 1ull << 31, kEferLma = 1ull << 10;
    access_cr3_ = s.cr3;
    if (!(s.cr0 & kCr0Pg))
        access_mode_ = GuestAccess::Mode::Physical;
    else if (s.efer & kEferLma)
        access_mode_ = GuestAccess::Mode::Kernel64;
    else
        access_mode_ = GuestAccess::Mode::Unsupported;
}

GuestAccess Vcpu::debug_guest() {
    if (domain_.is_pvh()) refresh_pvh_access();
    return guest();
}

bool Vcpu::debug_single_step(bool on) {
    if (!cpu_->set_single_step(on)) return false;
    stepping_ = on;
    return true;
}

bool Vcpu::debug_stop(DebugHook::Reason why, bool asleep) {
    std::lock_guard lock(debug_mutex_);
    debug_stop_requested_.store(false);
    DebugHook* hook = debug_hook_.load();
    if (!hook) return false;
    // Blocked, as far as the scheduler knows, while the debugger holds it: it leaves its
    // CPU to the others and asks for one again when let go.
    if (!asleep) scheduling().sleep(*this);
    hook->stopped(*this, why);
    if (!asleep) scheduling().wake(*this);
    if (debug_crash_) fatal(*std::exchange(debug_crash_, std::nullopt));
    return true;
}

void Vcpu::sync_probe() {
    probe_generation_ = domain_.probe_generation();
    std::shared_ptr<ProbeHook> now = domain_.probe_hook();
    if (now == probe_) return;
    if (probe_) probe_->detach(*this);
    probe_ = std::move(now);
    if (probe_) probe_->attach(*this);
}

void Vcpu::debug_complete_write(bool perform) {
    if (!write_pending_) return;
    write_pending_ = false;
    cpu_->complete_write(perform);
}

void Vcpu::handle_debug_exit(const platform::Exit& exit) {
    if (exit.value == static_cast<uint64_t>(platform::DebugExit::Probe)) {
        // A probe this vCPU has left may still be hit once by a vCPU already past its
        // entry: the trampoline runs on into the real code either way.
        if (probe_) probe_->hit(*this);
        return;
    }
    platform::Registers& r = cpu_->regs();
    if (exit.value == static_cast<uint64_t>(platform::DebugExit::Breakpoint)) {
        const uint64_t at = r.rip - 1;  // the int3's own address
        DebugHook::Int3 whose = DebugHook::Int3::Guest;
        {
            std::lock_guard lock(debug_mutex_);
            if (DebugHook* hook = debug_hook_.load()) whose = hook->classify_int3(*this, at);
        }
        if (whose == DebugHook::Int3::Guest) fatal(exit.what);
        // Back to the int3's address: the debugger sees its breakpoint there, and running
        // on executes what the breakpoint replaced (once the debugger has put it back).
        r.rip = at;
        cpu_->mark_regs_dirty();
        if (whose == DebugHook::Int3::Debugger) debug_stop(DebugHook::Reason::Breakpoint);
        return;
    }
    if (exit.value == static_cast<uint64_t>(platform::DebugExit::Write)) {
        write_gpa_ = exit.fault_address;
        write_pending_ = true;
        // No debugger (it detached while this vCPU was on its way): the write happens.
        debug_stop(DebugHook::Reason::Write);
        debug_complete_write(true);  // unless the debugger answered otherwise
        write_runs_next_ = true;
        return;
    }
    if (!stepping_ || !debug_stop(DebugHook::Reason::SingleStep))
        fatal(exit.what);  // a trap flag the guest set itself
}

std::string Vcpu::register_dump(uint64_t fault_address) {
    const platform::Registers& r = cpu_->regs();
    platform::ControlRegisters s{};
    try {
        s = cpu_->control_registers();
    } catch (const std::exception&) {
    }
    if (fault_address) s.cr2 = fault_address;
    char buf[1024];
    std::string rip_symbol = domain_.symbolize(r.rip);
    std::snprintf(buf, sizeof buf,
                  "RIP: %016" PRIx64 "%s%s\nRSP: %016" PRIx64 "  RFLAGS: %016" PRIx64
                  "\n"
                  "RAX: %016" PRIx64 "  RBX: %016" PRIx64 "  RCX: %016" PRIx64
                  "\n"
                  "RDX: %016" PRIx64 "  RSI: %016" PRIx64 "  RDI: %016" PRIx64
                  "\n"
                  "RBP: %016" PRIx64 "  R8:  %016" PRIx64 "  R9:  %016" PRIx64
                  "\n"
                  "R10: %016" PRIx64 "  R11: %016" PRIx64 "  R12: %016" PRIx64
                  "\n"
                  "R13: %016" PRIx64 "  R14: %016" PRIx64 "  R15: %016" PRIx64
                  "\n"
                  "CR2: %016" PRIx64 "  CR3: %016" PRIx64,
                  r.rip, rip_symbol.empty() ? "" : " ", rip_symbol.c_str(), r.rsp, r.rflags, r.rax,
                  r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13,
                  r.r14, r.r15, s.cr2, s.cr3);
    return buf;
}

}  // namespace xenolith::hv
