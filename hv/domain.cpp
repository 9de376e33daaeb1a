#include "hv/domain.hpp"

#include "abi/xen.hpp"

#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <random>

#include "base/error.hpp"
#include "hv/hypervisor.hpp"

namespace xenolith::hv {

const char* state_name(DomainState s) {
    switch (s) {
        case DomainState::Building:
            return "building";
        case DomainState::Running:
            return "running";
        case DomainState::Paused:
            return "paused";
        case DomainState::Shutdown:
            return "shutdown";
        case DomainState::Crashed:
            return "crashed";
        case DomainState::Dying:
            return "dying";
    }
    return "?";
}

const char* shutdown_reason_name(unsigned reason) {
    switch (reason) {
        case SHUTDOWN_poweroff:
            return "poweroff";
        case SHUTDOWN_reboot:
            return "reboot";
        case SHUTDOWN_suspend:
            return "suspend";
        case SHUTDOWN_crash:
            return "crash";
        case SHUTDOWN_watchdog:
            return "watchdog";
        case SHUTDOWN_soft_reset:
            return "soft_reset";
    }
    return "unknown";
}

std::string uuid_to_string(const Uuid& u) {
    char buf[37];
    std::snprintf(buf, sizeof buf,
                  "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                  u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                  u[14], u[15]);
    return buf;
}

namespace {
Uuid random_uuid() {
    std::random_device rd;
    Uuid u;
    for (auto& b : u) b = static_cast<uint8_t>(rd());
    u[6] = static_cast<uint8_t>((u[6] & 0x0f) | 0x40);  // version 4
    u[8] = static_cast<uint8_t>((u[8] & 0x3f) | 0x80);  // RFC 4122 variant
    return u;
}

uint32_t checked_vcpu_count(uint32_t vcpus) {
    if (vcpus == 0) throw Error("a domain needs at least one vCPU");
    return vcpus;
}
}  // namespace

Domain::Domain(Hypervisor& hv, domid_t id, const DomainParams& params)
    : Domain(hv, id, params, hv.platforms().choose(params.accel)) {}

Domain::Domain(Hypervisor& hv, domid_t id, const DomainParams& params,
               const platform::Platforms::Choice& choice)
    : hv_(hv),
      id_(id),
      name_(params.name),
      memory_bytes_(params.memory_bytes),
      uuid_(params.uuid.value_or(random_uuid())),
      time_(hv.time()),
      created_ns_(TimeSource::system_time_ns()),
      kind_(params.kind),
      platform_(choice.platform),
      platform_reason_(choice.why),
      memory_(
          std::make_shared<GuestMemory>("xenolith-dom" + std::to_string(id), params.memory_bytes)),
      vm_(platform_.create_vm(
          platform::VmConfig{.ram = {memory_->fd(), memory_->base(), memory_->size()},
                             .vcpus = checked_vcpu_count(params.vcpus),
                             .hvm = params.kind == GuestKind::Pvh,
                             .domid = id})) {
    if (is_pvh()) {
        boot_shared_info_ = std::make_unique<shared_info_t>();
        shared_info_.store(boot_shared_info_.get());
        for (auto& v : boot_shared_info_->vcpu_info) v.evtchn_upcall_mask = 1;
        stamp_wallclock(*boot_shared_info_);
    }
    vcpus_.reserve(params.vcpus);
    for (uint32_t i = 0; i < params.vcpus; ++i)
        vcpus_.push_back(std::make_unique<Vcpu>(*this, i, vm_->create_vcpu(i)));
    evtchn_ = std::make_unique<EventChannelTable>(*this, params.max_event_channels);
    grant_table_ = std::make_shared<GrantTable>(id, memory_, params.max_grant_frames);
    if (is_pvh()) {
        // Grant frames a PVH guest places outside its RAM are pages of the table's own,
        // each mapped with a memory slot of its own (RAM is slot 0).
        grant_table_->set_physmap_hook([this](uint32_t idx, uint64_t gpfn, void* host) {
            vm_->map_extra_page(idx, gpfn << kPageShift, host);
        });
    }
    console_ = [](std::string_view text) { ::write(STDOUT_FILENO, text.data(), text.size()); };
    // Last: nothing after it can fail, so a throw here leaves no unit in a pool.
    hv.scheduling().add_domain(*this, params.pool);
}

Domain::~Domain() {
    destroy();
}

void Domain::set_shared_info(uint64_t gpa) {
    auto* s = memory_->object<shared_info_t>(gpa);
    if (!s || gpa % kPageSize) throw Error("shared_info page outside guest RAM");
    shared_info_.store(s, std::memory_order_release);
    for (auto& v : s->vcpu_info) v.evtchn_upcall_mask = 1;  // events masked until enabled
    stamp_wallclock(*s);
    for (uint32_t i = 0; i < nr_vcpus() && i < XEN_LEGACY_MAX_VCPUS; ++i)
        stamp_time(s->vcpu_info[i].time);
}

std::optional<uint64_t> Domain::shared_info_gpa() const {
    const auto* s = reinterpret_cast<const uint8_t*>(shared_info());
    if (!s || s < memory_->base() || s >= memory_->base() + memory_->size()) return std::nullopt;
    return static_cast<uint64_t>(s - memory_->base());
}

void Domain::mark_live_writes() {
    auto mark = [&](const void* object, uint64_t len) {
        const auto* p = static_cast<const uint8_t*>(object);
        if (p >= memory_->base() && p < memory_->base() + memory_->size())
            memory_->mark_written(static_cast<uint64_t>(p - memory_->base()), len);
    };
    mark(shared_info(), sizeof(shared_info_t));
    for (const auto& v : vcpus_) mark(v->vcpu_info(), sizeof(vcpu_info_t));
    grant_table_->mark_live_writes();
}

void Domain::restore_shared_info(uint64_t gpa) {
    auto* s = memory_->object<shared_info_t>(gpa);
    if (!s || gpa % kPageSize) throw Error("shared_info page outside guest RAM");
    shared_info_.store(s, std::memory_order_release);
    stamp_wallclock(*s);
}

void Domain::restore_guest_time(uint64_t guest_now) {
    if (state() != DomainState::Building) throw Error("the clock is set only while building");
    time_offset_ns_.store(static_cast<int64_t>(guest_now - TimeSource::system_time_ns()),
                          std::memory_order_relaxed);
    if (shared_info_t* s = shared_info()) {
        stamp_wallclock(*s);
        for (uint32_t i = 0; i < nr_vcpus() && i < XEN_LEGACY_MAX_VCPUS; ++i)
            stamp_time(s->vcpu_info[i].time);
    }
}

void Domain::restore_boot_frames(uint64_t cr3, uint64_t tss) {
    if (cr3 % kPageSize || !memory_->contains(cr3, kPageSize) || tss % kPageSize ||
        !memory_->contains(tss, kPageSize))
        throw Error("boot page tables or I/O TSS outside guest RAM");
    boot_cr3_ = cr3;
    boot_tss_ = tss;
}

long Domain::map_shared_info(uint64_t gpfn) {
    if (gpfn >= memory_->nr_pages()) return -XEN_EINVAL;
    auto* fresh = memory_->object<shared_info_t>(gpfn << kPageShift);
    shared_info_t* old = shared_info();
    if (!fresh || !old) return -XEN_EINVAL;
    if (fresh == old) return 0;
    // What the page held (pending and masked events, vcpu_info, wallclock) moves with it,
    // as the same Xen page would simply appear at the new address. Only the guest's boot
    // vCPU runs this early; event senders read shared_info() afresh each time.
    std::memcpy(static_cast<void*>(fresh), old, sizeof *fresh);
    std::memset(reinterpret_cast<uint8_t*>(fresh) + sizeof *fresh, 0, kPageSize - sizeof *fresh);
    shared_info_.store(fresh, std::memory_order_release);
    for (uint32_t i = 0; i < nr_vcpus() && i < XEN_LEGACY_MAX_VCPUS; ++i)
        stamp_time(fresh->vcpu_info[i].time);
    return 0;
}

uint64_t Domain::hvm_param(uint32_t index) const {
    return index < hvm_params_.size() ? hvm_params_[index].load() : 0;
}

void Domain::set_hvm_param(uint32_t index, uint64_t value) {
    if (index < hvm_params_.size()) hvm_params_[index].store(value);
}

void Domain::set_boot_context(const platform::BootContext& boot) {
    boot_cr3_ = boot.cr3;
    boot_tss_ = boot.tss_base;
    long rc = vcpu(0).initialise(VcpuContext{boot});
    if (rc != 0) throw Error("boot vCPU context rejected");
}

std::string Domain::symbolize(uint64_t address) const {
    return symbolizer_ ? symbolizer_(address) : std::string();
}

void Domain::set_console(std::function<void(std::string_view)> sink) {
    std::lock_guard lock(console_mutex_);
    console_ = std::move(sink);
}

void Domain::leave_building(bool paused) {
    std::lock_guard lock(mutex_);
    if (state_ != DomainState::Building) throw Error("domain " + name_ + " was already started");
    state_ = paused ? DomainState::Paused : DomainState::Running;
    paused_.store(paused);
}

void Domain::start(bool paused) {
    leave_building(paused);
    if (vcpu(0).up() != 0) throw Error("domain " + name() + " has no boot vCPU context");
    if (is_pvh()) {
        // Secondary vCPUs of a PVH domain run from the start, parked in KVM until the
        // guest's INIT/SIPI reaches them through the LAPIC (it does not use VCPUOP_up).
        for (uint32_t i = 1; i < nr_vcpus(); ++i) {
            vcpu(i).initialise(VcpuContext{{.mode = platform::BootContext::Mode::PvhWaitForSipi}});
            vcpu(i).up();
        }
    }
}

void Domain::start_restored(bool paused) {
    leave_building(paused);
    for (uint32_t i = 0; i < nr_vcpus(); ++i)
        if (vcpu(i).up_on_start() && vcpu(i).up() != 0)
            throw Error("domain " + name() + ": vCPU " + std::to_string(i) + " has no context");
}

std::string Domain::name() const {
    std::lock_guard lock(mutex_);
    return name_;
}

void Domain::set_name(std::string name) {
    std::lock_guard lock(mutex_);
    name_ = std::move(name);
}

void Domain::pause() {
    {
        std::lock_guard lock(mutex_);
        if (state_ != DomainState::Running) return;
        state_ = DomainState::Paused;
        paused_.store(true);
        for (auto& v : vcpus_) v->kick();
    }
    // Outside mutex_ (see hv/scheduling.hpp); it reads paused_ itself, so a racing
    // unpause cannot leave the units in the wrong state.
    hv_.scheduling().refresh_domain(*this);
}

void Domain::unpause() {
    {
        std::lock_guard lock(mutex_);
        if (state_ != DomainState::Paused) return;
        state_ = DomainState::Running;
        paused_.store(false);
    }
    hv_.scheduling().refresh_domain(*this);
    for (auto& v : vcpus_) v->kick();
}

DomainState Domain::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

void Domain::set_stop_listener(std::function<void(DomainState)> listener) {
    std::lock_guard lock(mutex_);
    stop_listener_ = std::move(listener);
}

void Domain::stop_with(DomainState s) {
    std::function<void(DomainState)> listener;
    {
        std::lock_guard lock(mutex_);
        if (stopping_.load()) return;  // the first reason wins, as in Xen
        state_ = s;
        stopping_.store(true);
        listener = stop_listener_;
    }
    state_changed_.notify_all();
    // No vCPU thread may stay waiting for a CPU in the gate.
    hv_.scheduling().cancel_domain(*this);
    for (auto& v : vcpus_) v->kick();
    if (listener) listener(s);
}

bool Domain::set_hypercall_trace(std::shared_ptr<TraceBuffer> trace) {
    std::lock_guard lock(trace_mutex_);
    if (trace && trace_) return false;
    trace_ = std::move(trace);
    tracing_.store(trace_ != nullptr);
    if (trace_ && stopping() && live_vcpu_threads_.load() == 0) trace_->close();
    return true;
}

void Domain::trace_hypercall(TraceRecord record) {
    std::lock_guard lock(trace_mutex_);
    if (trace_) trace_->record(std::move(record));
}

bool Domain::set_probe_hook(std::shared_ptr<ProbeHook> hook) {
    {
        std::lock_guard lock(trace_mutex_);
        if (hook && probe_) return false;
        probe_ = std::move(hook);
        probe_generation_.fetch_add(1);
        if (probe_ && stopping() && live_vcpu_threads_.load() == 0) probe_->domain_ended();
    }
    for (auto& v : vcpus_) v->kick();
    return true;
}

std::shared_ptr<ProbeHook> Domain::probe_hook() const {
    std::lock_guard lock(trace_mutex_);
    return probe_;
}

void Domain::vcpu_thread_exited() {
    if (live_vcpu_threads_.fetch_sub(1) != 1 || !stopping()) return;
    std::lock_guard lock(trace_mutex_);
    if (trace_) trace_->close();
    if (probe_) probe_->domain_ended();
}

void Domain::set_shutdown_code(unsigned reason) {
    std::lock_guard lock(mutex_);
    shutdown_code_ = reason;
}

void Domain::shutdown(unsigned reason) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_.load()) return;
        shutdown_reason_ = shutdown_code_.value_or(reason);
        reason = *shutdown_reason_;
    }
    stop_with(reason == SHUTDOWN_crash ? DomainState::Crashed : DomainState::Shutdown);
}

void Domain::crash(uint32_t vcpu, const std::string& report) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_.load()) return;
        shutdown_reason_ = SHUTDOWN_crash;
        crash_report_ = "domain " + std::to_string(id_) + " (" + name_ + ") crashed on vCPU " +
                        std::to_string(vcpu) + ": " + report;
    }
    stop_with(DomainState::Crashed);
}

DomainState Domain::wait_for_stop() {
    std::unique_lock lock(mutex_);
    state_changed_.wait(lock, [&] { return stopping_.load(); });
    return state_;
}

void Domain::destroy() {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_.load()) state_ = DomainState::Dying;
        stopping_.store(true);
    }
    state_changed_.notify_all();
    Scheduling& scheduling = hv_.scheduling();
    scheduling.cancel_domain(*this);
    for (auto& v : vcpus_) v->join();
    scheduling.remove_domain(*this);
    // Peers must not stay bound to this domain's ports (Xen's evtchn_destroy).
    if (evtchn_) evtchn_->reset();
    // Mappings of this domain's grants turn invalid; their RAM stays mapped until unmapped.
    if (grant_table_) grant_table_->close();
}

void Domain::set_exit_status(uint32_t status) {
    std::lock_guard lock(mutex_);
    exit_status_ = status;
}

std::optional<unsigned> Domain::shutdown_reason() const {
    std::lock_guard lock(mutex_);
    return shutdown_reason_;
}

std::optional<uint32_t> Domain::exit_status() const {
    std::lock_guard lock(mutex_);
    return exit_status_;
}

std::string Domain::crash_report() const {
    std::lock_guard lock(mutex_);
    return crash_report_;
}

void Domain::console_write(std::string_view text) {
    std::lock_guard lock(console_mutex_);
    if (console_) console_(text);
}

std::string Domain::console_read(size_t max) {
    std::lock_guard lock(mutex_);
    size_t n = std::min(max, console_in_.size());
    std::string out = console_in_.substr(0, n);
    console_in_.erase(0, n);
    return out;
}

void Domain::console_input(std::string_view bytes) {
    {
        std::lock_guard lock(mutex_);
        // Bounded: input nobody reads must not grow without limit.
        constexpr size_t kMaxPending = 64 * 1024;
        size_t room = kMaxPending > console_in_.size() ? kMaxPending - console_in_.size() : 0;
        console_in_.append(bytes.substr(0, room));
    }
    evtchn_->raise_virq(VIRQ_CONSOLE, 0);
}

void Domain::count_unknown_hypercall(uint64_t nr) {
    unknown_total_.fetch_add(1, std::memory_order_relaxed);
    if (nr < kHypercallTableSize)
        unknown_by_nr_[nr].fetch_add(1, std::memory_order_relaxed);
    else
        unknown_out_of_range_.fetch_add(1, std::memory_order_relaxed);
}

uint64_t Domain::cpu_time_ns() const {
    uint64_t total = 0;
    for (const auto& v : vcpus_) total += v->cpu_time_ns();
    return total;
}

}  // namespace xenolith::hv
