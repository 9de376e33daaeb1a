// A guest vCPU: one host thread that runs the platform's vCPU (platform/platform.hpp) and
// dispatches each neutral exit once.
//
// Waking a vCPU ("kick") works whether it is in the guest, about to enter, or asleep: the
// kicker asks the platform to end run() (it interrupts the guest, or makes the next run()
// return at once) and writes the vCPU's wake eventfd for when it sleeps. Timers are POSIX
// timers aimed at the vCPU thread itself with the platform's kick signal, so expiry needs
// no other thread.
#pragma once

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "abi/xen.hpp"

#include "base/unique_fd.hpp"
#include "hv/debug_hook.hpp"
#include "hv/guest_access.hpp"
#include "hv/probe_hook.hpp"
#include "hv/vcpu_state.hpp"
#include "platform/platform.hpp"
#include "sched/unit.hpp"

namespace xenolith::hv {

class Domain;
class Scheduling;

// Where a vCPU starts: the builder's boot state for vCPU 0, VCPUOP_initialise for others.
struct VcpuContext {
    platform::BootContext boot;  // PvUser64: RFLAGS is forced to IOPL 3 | IF
    uint64_t event_callback = 0;
    // A restored vCPU's one-shot timer (system time; 0: none).
    uint64_t timer_deadline = 0;
};

struct VcpuCounters {
    std::atomic<uint64_t> exits{0};
    std::atomic<uint64_t> hypercalls{0};
    std::atomic<uint64_t> upcalls{0};
};

class Vcpu {
  public:
    Vcpu(Domain& domain, uint32_t id, std::unique_ptr<platform::Vcpu> cpu);
    ~Vcpu();
    Vcpu(const Vcpu&) = delete;
    Vcpu& operator=(const Vcpu&) = delete;

    uint32_t id() const { return id_; }
    Domain& domain() const { return domain_; }
    const VcpuCounters& counters() const { return counters_; }

    // --- Lifecycle, from any thread ---------------------------------------------------
    // Records the start context; -XEN_EEXIST if already initialised.
    long initialise(const VcpuContext& ctx);
    // Brings the vCPU online (starting its thread the first time); -XEN_EINVAL if it has
    // no context yet.
    long up();
    long down();
    bool is_up() const { return up_.load(); }
    bool initialised() const;
    // Makes the vCPU look at its state soon (see the file comment).
    void kick();
    // Only knocks the thread out of the guest (no eventfd wake): the scheduling gate's
    // pre-emption. Takes no lock.
    void preempt_kick();
    // Waits for the thread to leave; the domain must already be stopping.
    void join();

    // --- Save/restore (hv/vcpu_state.hpp) -----------------------------------------------
    // Any thread, with the domain paused: waits until the vCPU's thread is parked (between
    // runs, or asleep in a hypercall), reads its state there, and leaves it parked. Throws
    // Error when the thread does not park within `timeout`, or the platform cannot give
    // the state (a PVH vCPU).
    VcpuState save_state(std::chrono::milliseconds timeout);
    // Before the domain starts: the vCPU resumes from `state` (and comes up if it was).
    // -XEN_EINVAL when an address in it lies outside RAM, -XEN_EEXIST when already
    // initialised.
    long restore_state(const VcpuState& state);
    // Whether the restored state said the vCPU was up (Domain::start_restored ups it).
    bool up_on_start() const { return up_on_start_; }

    // --- On the vCPU's own thread (hypercall handlers) ---------------------------------
    vcpu_info_t* vcpu_info() const;
    long register_vcpu_info(uint64_t mfn, uint64_t offset);
    // Arms the one-shot timer at absolute system time `deadline_ns` (0 disarms).
    void set_timer(uint64_t deadline_ns);
    long block();
    long poll(std::span<const uint32_t> ports, uint64_t timeout_ns);
    void set_event_callback(uint64_t rip) { event_callback_ = rip; }
    GuestAccess guest() const;
    // PVH: HVMOP_set_evtchn_upcall_vector (0: the domain's callback vector applies).
    void set_upcall_vector(uint8_t vector) { upcall_vector_.store(vector); }
    // VCPUOP_register_runstate_memory_area: `va` is translated once, now, through `guest`
    // (Xen translates at every update; a kernel's per-CPU area does not move). -XEN_EFAULT
    // when unmapped or not contiguous.
    long register_runstate_area(const GuestAccess& guest, uint64_t va);

    // The one-shot timer's deadline (system time; 0: disarmed). Any thread: a diagnostic.
    uint64_t timer_deadline() const { return timer_deadline_.load(std::memory_order_relaxed); }
    // Runstate, any thread: the scheduler's accounting (running = holding a host CPU,
    // runnable = waiting for one, blocked, offline).
    void get_runstate(vcpu_runstate_info_t& info) const;
    uint64_t cpu_time_ns() const;
    // This vCPU as the schedulers see it (owned here, placed in a pool by hv::Scheduling).
    sched::SchedUnit& sched_unit() { return unit_; }
    const sched::SchedUnit& sched_unit() const { return unit_; }

    // --- Introspection (hv/debug_hook.hpp) ------------------------------------------------
    // Any thread. Returns false when another hook is installed. nullptr removes the hook
    // (and any stop request), waiting until the vCPU thread is out of it: the debugger
    // first makes stopped() return, then removes itself, then may be destroyed.
    bool set_debug_hook(DebugHook* hook);
    // Whether a debugger's hook is installed. Any thread.
    bool debugged() const { return debug_hook_.load() != nullptr; }
    // Makes the vCPU call its hook's stopped(Requested) before it next enters the guest.
    void request_debug_stop();
    // On the vCPU's thread, inside DebugHook::stopped(): the registers as the guest will
    // resume with them (debug_registers_changed() after writing), its control registers,
    // its view of guest-virtual memory, and whether the next run is one instruction.
    platform::Registers& debug_registers() { return cpu_->regs(); }
    void debug_registers_changed() { cpu_->mark_regs_dirty(); }
    platform::ControlRegisters debug_control_registers() { return cpu_->control_registers(); }
    GuestAccess debug_guest();
    // False where the platform cannot single-step.
    bool debug_single_step(bool on);
    // A model-specific register (nullopt / false where the platform has none to give).
    // Here and in a ProbeHook's calls.
    std::optional<uint64_t> debug_read_msr(uint32_t index) { return cpu_->read_msr(index); }
    bool debug_write_msr(uint32_t index, uint64_t value) { return cpu_->write_msr(index, value); }
    // What the platform offers the debugger here (platform::DebugSupport). Any thread.
    platform::DebugSupport debug_support() const { return cpu_->debug_support(); }
    // Inside stopped(Reason::Write): the guest-physical address the instruction at RIP
    // writes, and the answer (perform: the write happens as the vCPU runs on; else it is
    // dropped, for a caller that changes RIP).
    uint64_t debug_write_address() const { return write_gpa_; }
    // Any thread: stop in the hook (Reason::Hypercall) before each hypercall, or no longer.
    void set_hypercall_stops(bool on) { hypercall_stops_.store(on); }
    // Inside stopped(Reason::Hypercall): the call's number (its arguments are the registers).
    uint64_t debug_hypercall() const { return stopped_hypercall_; }
    // Whether RIP is already past the writing instruction (platform::Vcpu).
    bool debug_write_after_instruction() const { return cpu_->write_exit_after_instruction(); }
    void debug_complete_write(bool perform);
    // Inside stopped(): once the hook returns, the domain crashes with `why` and this
    // vCPU's registers, as for a guest fault.
    void debug_crash(std::string why) { debug_crash_ = std::move(why); }

    // --- Placement (xl vcpu-pin), any thread --------------------------------------------
    // Hard affinity: the host CPUs this vCPU may run on (empty: any), handed to its pool's
    // dispatcher; the thread pins itself to whichever CPU the dispatcher gives it. Throws
    // Error when no listed CPU is a host CPU of the vCPU's pool.
    void set_hard_affinity(std::vector<unsigned> cpus);
    // Soft affinity: CPUs preferred but not required (kept for the schedulers).
    void set_soft_affinity(std::vector<unsigned> cpus);
    // The hard affinity the scheduler enforces (empty: every host CPU).
    std::vector<unsigned> hard_affinity() const;
    std::vector<unsigned> soft_affinity() const;
    // The host CPU the vCPU last ran on; nullopt before it first ran.
    std::optional<unsigned> last_cpu() const;

  private:
    void thread_main();
    bool prepare_to_run();
    void apply_context();
    void handle_exit(const platform::Exit& exit);
    void run_hypercall(uint64_t nr);
    void deliver_upcall_if_due();
    void deliver_pvh_upcall();
    void install_hypercall_page(uint64_t msr_value);
    void handle_debug_exit(const platform::Exit& exit);
    // Answers a pending save_state() request, if any (on the vCPU's thread). `asleep`: the
    // thread is inside SCHEDOP_block/poll, whose result is not written yet.
    void serve_save_request(bool asleep);
    bool save_requested() const { return save_requested_.load(std::memory_order_acquire); }
    // Attaches to the domain's probe hook, or detaches from a dropped one.
    void sync_probe();
    // PVH: access_cr3_ and access_mode_ from the guest's paging state now.
    void refresh_pvh_access();
    // Parks in the hook's stopped() (blocked, for the scheduler, unless `asleep` says the
    // vCPU already is); false without a hook.
    bool debug_stop(DebugHook::Reason why, bool asleep = false);
    void update_runstate_area();
    void check_timer();
    void refresh_clock();
    void wait_for_wake(uint64_t deadline_ns);
    // The guest sleeps (block/poll) until `woken` says otherwise; the scheduler is told
    // only if it really has to wait.
    template <class Woken>
    void sleep_until(Woken woken, uint64_t timeout_ns);
    Scheduling& scheduling() const;
    // Crashes the domain with `why` and the registers (CR2 = `fault_address` when the
    // platform reported one), and leaves the run loop.
    [[noreturn]] void fatal(const std::string& why, uint64_t fault_address = 0);
    std::string register_dump(uint64_t fault_address);

    Domain& domain_;
    const uint32_t id_;
    std::unique_ptr<platform::Vcpu> cpu_;
    VcpuCounters counters_;

    mutable std::mutex mutex_;            // guards context_, initialised_, thread_ start
    std::optional<VcpuContext> context_;  // to apply on the vCPU thread
    bool initialised_ = false;
    std::thread thread_;
    // Held across a whole join so that a second joiner waits for the first instead of
    // returning while the thread still runs. Separate from mutex_, which the vCPU thread takes.
    std::mutex join_mutex_;
    // save_state(): the request the vCPU thread answers (guarded by mutex_).
    struct SaveRequest {
        VcpuState state;
        std::string error;
        bool done = false;
    };
    SaveRequest* save_request_ = nullptr;
    std::atomic<bool> save_requested_{false};
    std::condition_variable save_answered_;
    bool up_on_start_ = false;  // set by restore_state, before the domain starts
    std::atomic<bool> up_{false};
    // Registered vcpu_info location (kNoVcpuInfo: the slot in shared_info). Atomic: event
    // senders on other threads read it.
    static constexpr uint64_t kNoVcpuInfo = ~uint64_t{0};
    std::atomic<uint64_t> vcpu_info_gpa_{kNoVcpuInfo};
    UniqueFd wake_fd_;
    std::atomic<uint8_t> upcall_vector_{0};
    // Held while the vCPU thread is in the hook, so that removing it waits for that. The
    // hook itself is atomic: installing one never waits for another debugger's stop.
    std::mutex debug_mutex_;
    std::atomic<DebugHook*> debug_hook_{nullptr};
    std::atomic<bool> debug_stop_requested_{false};
    bool stepping_ = false;  // vCPU thread: the debugger asked for one instruction
    // vCPU thread: the probe hook this vCPU is attached to, as of which change.
    std::shared_ptr<ProbeHook> probe_;
    uint64_t probe_generation_ = 0;
    // vCPU thread: the write of the last DebugExit::Write, while unanswered, and the crash
    // a debugger asked for.
    uint64_t write_gpa_ = 0;
    bool write_pending_ = false;
    bool write_runs_next_ = false;
    std::atomic<bool> hypercall_stops_{false};
    uint64_t stopped_hypercall_ = 0;  // vCPU thread
    std::optional<std::string> debug_crash_;
    static constexpr uint64_t kNoArea = ~uint64_t{0};
    uint64_t runstate_gpa_ = kNoArea;  // vCPU thread only
    // How hypercall arguments translate: set from the guest's paging state at each PVH
    // hypercall (a PV guest's CR3 is cr3_ and its mode fixed).
    uint64_t access_cr3_ = 0;
    GuestAccess::Mode access_mode_ = GuestAccess::Mode::PvUser;

    // Owned by the vCPU thread.
    uint64_t cr3_ = 0;
    uint64_t event_callback_ = 0;
    // The context an upcall interrupted, until the guest runs on: a fault KVM injects right
    // after delivery belongs to it (PVM does not report such faults as pending events).
    struct InterruptedContext {
        uint64_t frame = 0, rip = 0, rsp = 0, rflags = 0;
    };
    std::optional<InterruptedContext> last_upcall_;
    // Written by the vCPU thread only; atomic so that a diagnostic may read it.
    std::atomic<uint64_t> timer_deadline_{0};
    uint64_t last_clock_update_ = 0;
    timer_t posix_timer_{};
    bool has_posix_timer_ = false;

    // Guards the affinities as set (the dispatcher holds the effective ones).
    mutable std::mutex affinity_mutex_;
    std::vector<unsigned> soft_affinity_;
    static constexpr int kNoCpu = -1;
    std::atomic<int> last_cpu_{kNoCpu};
    int pinned_cpu_ = kNoCpu;                       // the vCPU thread's own: where it is pinned now
    const std::atomic<bool>* holds_cpu_ = nullptr;  // the gate's flag, set at thread start

    sched::SchedUnit unit_;
};

}  // namespace xenolith::hv
