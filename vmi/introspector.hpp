// The introspection core: one debugger's hold on one domain, with no agent inside the guest.
// It stops and resumes vCPUs (all-stop: when one stops for a breakpoint or a step, the others
// are stopped too before the client hears of it), reads and writes registers and memory
// (guest-physical, or guest-virtual through a vCPU's own page tables), and plants software
// breakpoints. Every vCPU call lands on that vCPU's own thread while it waits in
// DebugHook::stopped(), since a vCPU's registers belong to the thread that runs it.
//
// The daemon makes one per controlling client (docs/control-api.md, "Introspection");
// destroying it is the detach: breakpoints come out and every vCPU runs on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "hv/debug_hook.hpp"
#include "hv/domain.hpp"
#include "platform/platform.hpp"

namespace xenolith::vmi {

using Reason = hv::DebugHook::Reason;

// A vCPU stopped for the debugger on its own account (a breakpoint, a finished step, a
// write to a watched page).
struct StopEvent {
    uint32_t vcpu = 0;
    Reason reason = Reason::Requested;
    uint64_t rip = 0;
    // Reason::Write: the guest-physical address the instruction at `rip` writes (it has not
    // written yet: Continue or Step lets it, Crash does not).
    uint64_t address = 0;
    // Reason::Hypercall: the call's number; its arguments are the vCPU's registers (RDI,
    // RSI, RDX, R10, R8), read when the vCPU is let go: changing them changes the call.
    uint64_t hypercall = 0;
};

// What a stopped vCPU does when the client resumes the domain. Crash: the domain crashes
// with that vCPU's registers in the report, as for a guest fault.
enum class Action { Stay, Continue, Step, Crash };

class Introspector final : public hv::DebugHook {
  public:
    // Becomes `domain`'s debugger. Throws Error when it already has one.
    explicit Introspector(std::shared_ptr<hv::Domain> domain);
    // The detach: breakpoints removed, every vCPU let go, the hook gone from each.
    ~Introspector() override;
    Introspector(const Introspector&) = delete;
    Introspector& operator=(const Introspector&) = delete;

    hv::Domain& domain() const { return *domain_; }
    uint32_t vcpus() const { return domain_->nr_vcpus(); }

    // --- Running and stopping ---------------------------------------------------------
    // Stops every vCPU that has a thread and waits until each has. Throws Error when one
    // has not stopped within `timeout`.
    void stop_all(std::chrono::milliseconds timeout);
    // Lets the stopped vCPUs go: each as `actions` says, the rest as `others`. A stop that
    // is still to be reported is reported first instead, with nothing resumed (as gdbserver
    // does in all-stop mode). Throws Error for a vCPU id out of range, or a step where the
    // platform cannot.
    void resume(const std::map<uint32_t, Action>& actions, Action others);
    // The next StopEvent, once every vCPU is stopped again; nullopt when none came within
    // `timeout` (the vCPUs run on).
    std::optional<StopEvent> wait(std::chrono::milliseconds timeout);
    bool stopped(uint32_t vcpu) const;

    // --- State of a stopped vCPU (Error when it runs) ----------------------------------
    platform::Registers registers(uint32_t vcpu);
    void set_registers(uint32_t vcpu, const platform::Registers& regs);
    platform::ControlRegisters control_registers(uint32_t vcpu);

    // --- Memory -------------------------------------------------------------------------
    // Guest-virtual through `vcpu`'s page tables (it must be stopped); guest-physical needs
    // no vCPU. Reads stop at the first byte that does not translate; writes likewise and
    // return how many bytes were written. A breakpoint reads as the byte it replaced, and a
    // write over one changes what it will put back.
    // `cr3`: walk those page tables (another guest process's) in the vCPU's paging mode
    // instead of the vCPU's current ones.
    std::vector<uint8_t> read_virtual(uint32_t vcpu, uint64_t va, size_t len,
                                      std::optional<uint64_t> cr3 = std::nullopt);
    size_t write_virtual(uint32_t vcpu, uint64_t va, std::span<const uint8_t> bytes,
                         std::optional<uint64_t> cr3 = std::nullopt);
    std::vector<uint8_t> read_physical(uint64_t gpa, size_t len);
    size_t write_physical(uint64_t gpa, std::span<const uint8_t> bytes);
    // The largest read or write accepted at once.
    static constexpr size_t kMaxTransfer = 1 << 20;

    // --- Events ---------------------------------------------------------------------------
    // Every vCPU stops before each hypercall it makes (a StopEvent with Reason::Hypercall),
    // or no longer. Off again at the detach.
    void set_hypercall_stops(bool on);

    // --- Software breakpoints, at guest-virtual addresses of `vcpu`'s page tables ------
    // Throws Error when the address does not translate or already has one, or when the
    // platform cannot trap the guest's int3 here (with its reason, platform::DebugSupport).
    void insert_breakpoint(uint32_t vcpu, uint64_t va);
    // Throws Error when there is none at `va`.
    void remove_breakpoint(uint64_t va);
    size_t breakpoint_count() const;

    // --- Page-write events ----------------------------------------------------------
    // Guest writes to the pages [address, address+len) touches stop the writer with
    // Reason::Write (`on`), or no longer do. Physical, or guest-virtual through `vcpu`'s page
    // tables (each page must translate). Every vCPU must be stopped (KVM re-lays its memory
    // slots). Throws Error for a range outside RAM, more than kMaxWatchedPages, a page with
    // no watch to remove, or a platform that cannot. Returns the pages watched now.
    size_t watch_writes_physical(uint64_t gpa, uint64_t len, bool on);
    size_t watch_writes_virtual(uint32_t vcpu, uint64_t va, uint64_t len, bool on);
    size_t watched_pages() const;
    static constexpr size_t kMaxWatchedPages = 4096;

    // --- hv::DebugHook (vCPU threads) ------------------------------------------------
    Int3 classify_int3(hv::Vcpu& vcpu, uint64_t address) override;
    void stopped(hv::Vcpu& vcpu, Reason why) override;

  private:
    struct Slot {
        bool stopped = false;
        Action next = Action::Stay;
        std::function<void(hv::Vcpu&)> job;
        bool job_done = false;
        std::exception_ptr job_error;
        // The step just made runs a `pushf` of the guest's own flags, whose copy on the
        // stack will hold the trap flag the step set: at its stop, that bit comes out.
        std::optional<uint64_t> pushf_rsp;
        // Stopped at a watched write that waits for the answer (Continue/Step: it writes).
        bool write_pending = false;
        uint64_t write_address = 0;
        bool write_needs_instruction = true;  // the writer has yet to run (process platform)
        // resume(): running the write alone, one instruction, before the others go.
        bool finishing_write = false;
        bool finishing_reports_step = false;  // the client asked for a step, not Continue
    };
    struct Breakpoint {
        uint64_t gpa = 0;
        uint8_t saved = 0;  // the byte the int3 replaced
    };

    // Runs `job` on stopped vCPU `vcpu`'s thread and waits for it.
    void run_on(uint32_t vcpu, std::function<void(hv::Vcpu&)> job);
    void check_vcpu(uint32_t vcpu) const;
    bool all_stopped_locked() const;
    void stop_all_locked(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds timeout);
    // Copies between guest-physical memory and `out`/`in`, with breakpoints shown as what
    // they replaced / kept in place.
    void read_gpa_locked(uint64_t gpa, std::span<uint8_t> out) const;
    void write_gpa_locked(uint64_t gpa, std::span<const uint8_t> in);
    void remove_all_breakpoints_locked();
    // On the vCPU's thread: whether the instruction at RIP pushes RFLAGS (`pushf`), and
    // after the step, clearing the trap flag in what it pushed at `rsp`.
    static bool at_pushf(hv::Vcpu& vcpu);
    static void clear_pushed_trap_flag(hv::Vcpu& vcpu, uint64_t rsp);
    // Watches or releases whole pages (addresses page-aligned), all vCPUs stopped.
    size_t watch_pages_locked(const std::vector<uint64_t>& pages, bool on);
    void remove_all_watches_locked() noexcept;
    // resume(): lets each vCPU stopped at a watched write make it alone; false when that
    // raised a new event (reported instead, nothing else resumed).
    bool finish_writes_locked(std::unique_lock<std::mutex>& lock, const std::vector<Action>& next);
    // stopped(): what the vCPU does with its pending write and a Crash as it leaves.
    void leave_stop(hv::Vcpu& vcpu, Slot& slot, bool crash);

    std::shared_ptr<hv::Domain> domain_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Slot> slots_;
    std::deque<StopEvent> events_;
    std::map<uint64_t, Breakpoint> breakpoints_;  // by guest-virtual address
    std::set<uint64_t> watched_;                  // guest-physical page addresses
    bool detaching_ = false;
};

}  // namespace xenolith::vmi
