// A domain: its RAM, its platform VM (platform/platform.hpp), vCPUs, event channels and
// lifecycle state.
//
// States follow Xen's: building (being assembled, not yet run), running, paused,
// shutdown (with the guest's reason), crashed, dying (being torn down).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "abi/xen.hpp"

#include "hv/evtchn.hpp"
#include "hv/grant_table.hpp"
#include "hv/guest_memory.hpp"
#include "hv/probe_hook.hpp"
#include "hv/pvclock.hpp"
#include "hv/trace_buffer.hpp"
#include "hv/vcpu.hpp"
#include "platform/platform.hpp"
#include "platform/select.hpp"

namespace xenolith::hv {

class Hypervisor;

enum class DomainState { Building, Running, Paused, Shutdown, Crashed, Dying };
const char* state_name(DomainState s);
// Xen's SHUTDOWN_* reasons by name ("poweroff", "reboot", ...).
const char* shutdown_reason_name(unsigned reason);

using Uuid = std::array<uint8_t, 16>;
std::string uuid_to_string(const Uuid& u);

// How the guest runs. PV: a paravirtualized kernel at CPL 3 (docs/guest-abi.md). PVH: an
// unmodified kernel at CPL 0 under VT-x/AMD-V with Xen's HVM interfaces (docs/pvh.md).
enum class GuestKind { Pv, Pvh };

struct DomainParams {
    std::string name;
    GuestKind kind = GuestKind::Pv;
    std::optional<Uuid> uuid;  // random when absent
    uint64_t memory_bytes = 0;
    uint32_t vcpus = 1;
    uint32_t max_event_channels = kDefaultMaxEventChannels;
    uint32_t max_grant_frames = kDefaultMaxGrantFrames;
    // The CPU pool (sched::PoolId) every vCPU joins; Pool-0 by default.
    uint32_t pool = 0;
    // Which platform runs it (xl.cfg's accel); Auto: the hypervisor's default.
    platform::Accel accel = platform::Accel::Auto;
    // The id to take when it is free, else the next as usual: a restored domain keeps its
    // id where it can, since its frontends name it in their backends' xenstore paths.
    std::optional<domid_t> preferred_id;
};

// Hypercall numbers fit Xen's table of 64 entries.
inline constexpr unsigned kHypercallTableSize = 64;

class Domain {
  public:
    Domain(Hypervisor& hv, domid_t id, const DomainParams& params);
    ~Domain();
    Domain(const Domain&) = delete;
    Domain& operator=(const Domain&) = delete;

    domid_t id() const { return id_; }
    // The hypervisor this domain belongs to: how it finds peer domains (interdomain event
    // channels, grant copies).
    Hypervisor& hypervisor() const { return hv_; }
    std::string name() const;
    uint64_t memory_bytes() const { return memory_bytes_; }
    const Uuid& uuid() const { return uuid_; }
    GuestMemory& memory() { return *memory_; }
    platform::Vm& platform_vm() { return *vm_; }
    // "kvm" or "process", and why this one ("auto: no usable /dev/kvm (...)").
    const char* platform_name() const { return platform_.name(); }
    const std::string& platform_reason() const { return platform_reason_; }
    const GuestMemory& memory() const { return *memory_; }
    const TimeSource& time() const { return time_; }
    // The domain's system time (Xen's NOW() as the guest sees it): the host's monotonic
    // clock plus the offset a restore sets, so that a moved guest's clock goes on from
    // where it was saved rather than jumping by the difference between two hosts' clocks.
    uint64_t guest_time_ns() const {
        return TimeSource::system_time_ns() + static_cast<uint64_t>(time_offset_ns());
    }
    int64_t time_offset_ns() const { return time_offset_ns_.load(std::memory_order_relaxed); }
    // A fresh pvclock stamp / wallclock in the domain's time.
    void stamp_time(vcpu_time_info_t& t) const { time_.update(t, time_offset_ns()); }
    void stamp_wallclock(shared_info_t& s) const {
        TimeSource::update_wallclock(s, time_offset_ns());
    }
    EventChannelTable& evtchn() { return *evtchn_; }
    GrantTable& grant_table() { return *grant_table_; }
    uint32_t nr_vcpus() const { return static_cast<uint32_t>(vcpus_.size()); }
    Vcpu& vcpu(uint32_t i) { return *vcpus_.at(i); }
    uint64_t created_ns() const { return created_ns_; }
    GuestKind kind() const { return kind_; }
    bool is_pvh() const { return kind_ == GuestKind::Pvh; }

    // --- Building ---------------------------------------------------------------------
    // Where shared_info lives in guest RAM (page-aligned, inside RAM).
    void set_shared_info(uint64_t gpa);
    shared_info_t* shared_info() const { return shared_info_.load(std::memory_order_acquire); }
    // Where shared_info lies in RAM (save/restore); nullopt when it is not in RAM.
    std::optional<uint64_t> shared_info_gpa() const;
    void set_boot_context(const platform::BootContext& boot);
    // The boot page tables: secondary vCPUs initialised with ctrlreg[3] = 0 use them.
    uint64_t boot_cr3() const { return boot_cr3_; }
    uint64_t boot_tss() const { return boot_tss_; }
    void set_symbolizer(std::function<std::string(uint64_t)> f) { symbolizer_ = std::move(f); }
    std::string symbolize(uint64_t address) const;
    // Where console output goes (one call per write, from vCPU threads).
    void set_console(std::function<void(std::string_view)> sink);
    // Building -> Running (or Paused, for `xl create -p`): vCPU 0 comes up at the boot
    // context; a paused domain's vCPU waits before its first instruction.
    void start(bool paused = false);
    // Live migration: marks in memory().written() every page the hypervisor writes with no
    // mark of its own: shared_info and the vcpu_infos (event bits, the clock), the grant
    // table's frames and the pages backends hold writable (GrantTable::mark_live_writes).
    void mark_live_writes();
    // --- Restoring (save/restore: state/domain_stream) ----------------------------------
    // While Building, in place of the builder: shared_info as the saved guest left it (its
    // event masks untouched), the boot page tables and I/O TSS secondary vCPUs fall back
    // on, and vCPU states (Vcpu::restore_state). Throws Error outside RAM.
    void restore_shared_info(uint64_t gpa);
    void restore_boot_frames(uint64_t cr3, uint64_t tss);
    // The domain's system time is `guest_now` at this instant (Building only: its vCPUs do
    // not read the offset yet). The wallclock in shared_info follows.
    void restore_guest_time(uint64_t guest_now);
    // Building -> Running (or Paused): every vCPU whose restored state was up comes up.
    void start_restored(bool paused = false);
    // Called once, on the vCPU thread that shut the domain down or crashed it, after the
    // state changed. Not called by destroy(): whoever destroys knows. Set it before start().
    void set_stop_listener(std::function<void(DomainState)> listener);

    // --- PVH (hardware-virtualized) domains ----------------------------------------------
    // XENMEM_add_to_physmap(XENMAPSPACE_shared_info): the shared_info page appears at guest
    // page `gpfn`, carrying over what it held. -XEN_EINVAL outside RAM.
    long map_shared_info(uint64_t gpfn);
    // HVMOP_get_param/set_param storage (HVM_PARAM_*); the builder sets the store and
    // console ones, the guest the callback.
    uint64_t hvm_param(uint32_t index) const;
    void set_hvm_param(uint32_t index, uint64_t value);
    // The vector HVM_PARAM_CALLBACK_IRQ selected for event upcalls (0: none yet).
    uint8_t callback_vector() const { return callback_vector_.load(std::memory_order_acquire); }
    void set_callback_vector(uint8_t v) { callback_vector_.store(v, std::memory_order_release); }
    // What XENMEM_memory_map answers: the builder's E820-style map (the one PVH start_info
    // carries). Empty: one RAM range, all of the domain's memory (PV domains).
    struct MemoryMapEntry {
        uint64_t addr = 0;
        uint64_t size = 0;
        uint32_t type = 0;  // E820 types (1 RAM, 2 reserved, 3 ACPI), as hvm_memmap uses them
    };
    void set_memory_map(std::vector<MemoryMapEntry> map) { memory_map_ = std::move(map); }
    const std::vector<MemoryMapEntry>& memory_map() const { return memory_map_; }
    // The ACPI registers the builder described in the FADT: a write of SLP_EN with sleep
    // type 5 (S5) to the sleep control port powers off; the reset value to the reset port
    // reboots (the platform decodes them).
    void set_acpi_ports(uint16_t sleep_control, uint16_t reset, uint8_t reset_value) {
        vm_->set_acpi_ports(sleep_control, reset, reset_value);
    }

    // --- Control ----------------------------------------------------------------------
    // Hypervisor::rename_domain checks the new name is free; this only records it.
    void set_name(std::string name);
    void pause();
    void unpause();
    bool paused() const { return paused_.load(); }
    // True once the domain has shut down, crashed or is being destroyed: vCPUs leave.
    bool stopping() const { return stopping_.load(); }
    DomainState state() const;
    // Blocks until the domain has shut down or crashed; returns that state.
    DomainState wait_for_stop();
    // Stops every vCPU and waits for their threads (Dying). Idempotent.
    void destroy();

    // --- From the guest ---------------------------------------------------------------
    void shutdown(unsigned reason);
    // SCHEDOP_shutdown_code: the reason a later shutdown reports (Xen's d->shutdown_code).
    void set_shutdown_code(unsigned reason);
    void crash(uint32_t vcpu, const std::string& report);
    void set_exit_status(uint32_t status);
    void console_write(std::string_view text);
    // Up to `max` bytes of pending console input (CONSOLEIO_read).
    std::string console_read(size_t max);
    void console_input(std::string_view bytes);

    std::optional<unsigned> shutdown_reason() const;
    std::optional<uint32_t> exit_status() const;
    std::string crash_report() const;

    // --- Tracing (hv/trace_buffer.hpp) --------------------------------------------
    // Any thread. One trace at a time: false when another is set; nullptr removes it. The
    // trace is closed once the domain has stopped and its last vCPU thread has left, so
    // the last call (a shutdown) is in it before its reader hears the end.
    bool set_hypercall_trace(std::shared_ptr<TraceBuffer> trace);
    // vCPU threads: one relaxed load when nobody traces.
    bool tracing_hypercalls() const { return tracing_.load(std::memory_order_relaxed); }
    void trace_hypercall(TraceRecord record);
    // One probe at a time (hv/probe_hook.hpp): false when another is set; nullptr removes
    // it. Any thread: every vCPU is kicked to attach or detach before it next runs.
    bool set_probe_hook(std::shared_ptr<ProbeHook> hook);
    // vCPU threads: the hook and a count of its changes (one relaxed load per entry).
    std::shared_ptr<ProbeHook> probe_hook() const;
    uint64_t probe_generation() const { return probe_generation_.load(std::memory_order_relaxed); }
    // vCPU threads, at their start and end.
    void vcpu_thread_started() { live_vcpu_threads_.fetch_add(1); }
    void vcpu_thread_exited();

    // --- Accounting -------------------------------------------------------------------
    void count_unknown_hypercall(uint64_t nr);
    uint64_t unknown_hypercalls() const { return unknown_total_.load(); }
    uint64_t unknown_hypercalls(unsigned nr) const {
        return nr < kHypercallTableSize ? unknown_by_nr_[nr].load() : unknown_out_of_range_.load();
    }
    uint64_t cpu_time_ns() const;

  private:
    Domain(Hypervisor& hv, domid_t id, const DomainParams& params,
           const platform::Platforms::Choice& choice);
    void stop_with(DomainState s);
    // Building -> Running (or Paused); Error if it was started already.
    void leave_building(bool paused);

    Hypervisor& hv_;
    const domid_t id_;
    std::string name_;  // guarded by mutex_: xl rename changes it
    const uint64_t memory_bytes_;
    Uuid uuid_;
    const TimeSource& time_;
    const uint64_t created_ns_;
    // guest_time_ns() - host monotonic time; set while Building (restore), then only read.
    // Atomic because `xn debug-keys` reads it from other threads at any time.
    std::atomic<int64_t> time_offset_ns_{0};
    const GuestKind kind_;
    platform::Platform& platform_;
    const std::string platform_reason_;
    // Shared: grant mappings held by backends keep RAM mapped past the domain's death.
    std::shared_ptr<GuestMemory> memory_;
    // After memory_ (it maps that RAM), before vcpus_ (they run in it).
    std::unique_ptr<platform::Vm> vm_;
    std::vector<std::unique_ptr<Vcpu>> vcpus_;
    std::unique_ptr<EventChannelTable> evtchn_;
    std::shared_ptr<GrantTable> grant_table_;  // shared: GrantMapping::map needs shared_from_this
    std::atomic<shared_info_t*> shared_info_{nullptr};
    // A PVH domain's shared_info until the guest maps it into its RAM (it lives in Xen's
    // memory in Xen, too, until then).
    std::unique_ptr<shared_info_t> boot_shared_info_;
    std::array<std::atomic<uint64_t>, HVM_NR_PARAMS> hvm_params_{};
    std::atomic<uint8_t> callback_vector_{0};
    std::vector<MemoryMapEntry> memory_map_;  // set while Building, read-only after
    uint64_t boot_cr3_ = 0;
    uint64_t boot_tss_ = 0;
    std::function<std::string(uint64_t)> symbolizer_;
    std::function<void(DomainState)> stop_listener_;

    // trace_ and probe_; taken last (only a trace buffer's own lock is taken inside it).
    mutable std::mutex trace_mutex_;
    std::shared_ptr<TraceBuffer> trace_;
    std::atomic<bool> tracing_{false};
    std::shared_ptr<ProbeHook> probe_;  // guarded by trace_mutex_
    std::atomic<uint64_t> probe_generation_{0};
    std::atomic<int> live_vcpu_threads_{0};

    mutable std::mutex mutex_;  // state, reasons, console input
    std::condition_variable state_changed_;
    DomainState state_ = DomainState::Building;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> paused_{false};
    std::optional<unsigned> shutdown_reason_;
    std::optional<unsigned> shutdown_code_;
    std::optional<uint32_t> exit_status_;
    std::string crash_report_;
    std::string console_in_;

    std::mutex console_mutex_;  // serializes output so lines from vCPUs do not interleave
    std::function<void(std::string_view)> console_;

    std::array<std::atomic<uint64_t>, kHypercallTableSize> unknown_by_nr_{};
    std::atomic<uint64_t> unknown_out_of_range_{0};
    std::atomic<uint64_t> unknown_total_{0};
};

}  // namespace xenolith::hv
