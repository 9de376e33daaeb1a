#include "vmi/introspector.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/error.hpp"
#include "hv/vcpu.hpp"

namespace xenolith::vmi {

namespace {

constexpr uint8_t kInt3 = 0xcc;
constexpr uint64_t kPage = 4096;
// How long a job on a stopped vCPU's thread may take before the client gives up on it.
constexpr auto kJobTimeout = std::chrono::seconds(5);
// How often a stopped vCPU looks whether its domain is being destroyed.
constexpr auto kStoppedPoll = std::chrono::milliseconds(50);

std::string vcpu_name(uint32_t vcpu) {
    return "vCPU " + std::to_string(vcpu);
}

// One piece of a guest-virtual range that lies in one page.
struct Piece {
    uint64_t gpa = 0;
    size_t len = 0;
};

// The pieces of [va, va+len) that translate, up to the first that does not.
std::vector<Piece> translate_range(const hv::GuestAccess& guest, uint64_t va, size_t len) {
    std::vector<Piece> pieces;
    while (len > 0) {
        const size_t in_page = std::min<uint64_t>(len, kPage - (va & (kPage - 1)));
        std::optional<uint64_t> gpa = guest.translate(va, false);
        if (!gpa) break;
        pieces.push_back({*gpa, in_page});
        va += in_page;
        len -= in_page;
    }
    return pieces;
}

}  // namespace

Introspector::Introspector(std::shared_ptr<hv::Domain> domain)
    : domain_(std::move(domain)), slots_(domain_->nr_vcpus()) {
    for (uint32_t i = 0; i < domain_->nr_vcpus(); ++i) {
        if (domain_->vcpu(i).set_debug_hook(this)) continue;
        for (uint32_t j = 0; j < i; ++j) domain_->vcpu(j).set_debug_hook(nullptr);
        throw Error("domain " + std::to_string(domain_->id()) + " already has a debugger");
    }
}

Introspector::~Introspector() {
    {
        std::unique_lock lock(mutex_);
        if (!watched_.empty()) {
            // KVM re-lays its memory slots only with every vCPU out of the guest.
            try {
                stop_all_locked(lock, std::chrono::milliseconds(5000));
            } catch (const std::exception&) {
                // Shutting down, or a vCPU that does not stop: remove them all the same.
            }
        }
        detaching_ = true;
        for (uint32_t i = 0; i < domain_->nr_vcpus(); ++i)
            domain_->vcpu(i).set_hypercall_stops(false);
        remove_all_breakpoints_locked();
        remove_all_watches_locked();
    }
    changed_.notify_all();
    // Each removal waits until its vCPU thread has left stopped() (it sees detaching_).
    for (uint32_t i = 0; i < domain_->nr_vcpus(); ++i) domain_->vcpu(i).set_debug_hook(nullptr);
}

void Introspector::check_vcpu(uint32_t vcpu) const {
    if (vcpu >= slots_.size())
        throw Error(vcpu_name(vcpu) + " does not exist (the domain has " +
                    std::to_string(slots_.size()) + ")");
}

bool Introspector::stopped(uint32_t vcpu) const {
    check_vcpu(vcpu);
    std::lock_guard lock(mutex_);
    return slots_[vcpu].stopped;
}

void Introspector::set_hypercall_stops(bool on) {
    std::lock_guard lock(mutex_);
    for (uint32_t i = 0; i < domain_->nr_vcpus(); ++i) domain_->vcpu(i).set_hypercall_stops(on);
}

// ---- the vCPU threads' side -------------------------------------------------------------

void Introspector::stopped(hv::Vcpu& vcpu, Reason why) {
    const uint64_t rip = vcpu.debug_registers().rip;
    std::unique_lock lock(mutex_);
    Slot& slot = slots_[vcpu.id()];
    if (std::optional<uint64_t> rsp = std::exchange(slot.pushf_rsp, std::nullopt);
        rsp && why == Reason::SingleStep)
        clear_pushed_trap_flag(vcpu, *rsp);
    if (slot.finishing_write) {
        if (why == Reason::Requested) {
            // A stop request met the write on its way out: the write still goes first.
            lock.unlock();
            vcpu.debug_single_step(true);
            return;
        }
        // The write resume() let through alone has been made. A Continue's step is no
        // event; a Step's is the step the client asked for.
        slot.finishing_write = false;
        if (why == Reason::SingleStep && !slot.finishing_reports_step) why = Reason::Requested;
    }
    slot.stopped = true;
    slot.next = Action::Stay;
    if (why == Reason::Write) {
        slot.write_pending = true;
        slot.write_address = vcpu.debug_write_address();
        slot.write_needs_instruction = !vcpu.debug_write_after_instruction();
    }
    if (why != Reason::Requested)
        events_.push_back({vcpu.id(), why, rip, why == Reason::Write ? slot.write_address : 0,
                           why == Reason::Hypercall ? vcpu.debug_hypercall() : 0});
    changed_.notify_all();
    for (;;) {
        if (slot.job) {
            auto job = std::move(slot.job);
            slot.job = nullptr;
            lock.unlock();
            std::exception_ptr error;
            try {
                job(vcpu);
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            slot.job_done = true;
            slot.job_error = error;
            changed_.notify_all();
            continue;
        }
        if (detaching_ || domain_->stopping() || slot.next != Action::Stay) break;
        changed_.wait_for(lock, kStoppedPoll);
    }
    const bool step = !detaching_ && slot.next == Action::Step;
    // Stepping sets the trap flag (ptrace and KVM alike), and a stepped `pushf` saves it
    // with the guest's flags; its `popf` would later make the guest trap on its own. The
    // guest's own trap flag, if it had one, stays.
    constexpr uint64_t kTrapFlag = 1u << 8;
    const platform::Registers& regs = vcpu.debug_registers();
    if (step && !(regs.rflags & kTrapFlag) && at_pushf(vcpu)) slot.pushf_rsp = regs.rsp - 8;
    leave_stop(vcpu, slot, !detaching_ && slot.next == Action::Crash);
    slot.stopped = false;
    slot.next = Action::Stay;
    changed_.notify_all();
    lock.unlock();
    if (!vcpu.debug_single_step(step) && step) {
        // No steps on this platform: a write let through runs on with the rest.
        lock.lock();
        slot.finishing_write = false;
        changed_.notify_all();
    }
}

void Introspector::leave_stop(hv::Vcpu& vcpu, Slot& slot, bool crash) {
    if (crash) {
        char why[160];
        if (slot.write_pending)
            std::snprintf(why, sizeof why,
                          "the debugger crashed the domain: vCPU %u wrote to watched "
                          "guest-physical 0x%llx",
                          vcpu.id(), static_cast<unsigned long long>(slot.write_address));
        else
            std::snprintf(why, sizeof why, "the debugger crashed the domain (vCPU %u)", vcpu.id());
        vcpu.debug_crash(why);
    }
    if (slot.write_pending) vcpu.debug_complete_write(!crash);
    slot.write_pending = false;
}

bool Introspector::at_pushf(hv::Vcpu& vcpu) {
    const hv::GuestAccess guest = vcpu.debug_guest();
    uint64_t at = vcpu.debug_registers().rip;
    // Operand-size and REX prefixes may come first (`66 9c`, `48 9c`).
    for (int i = 0; i < 4; ++i, ++at) {
        std::optional<uint64_t> gpa = guest.translate(at, false);
        std::span<uint8_t> byte = gpa ? vcpu.domain().memory().span(*gpa, 1) : std::span<uint8_t>{};
        if (byte.empty()) return false;
        if (byte[0] == 0x9c) return true;
        if (byte[0] != 0x66 && (byte[0] & 0xf0) != 0x40) return false;
    }
    return false;
}

void Introspector::clear_pushed_trap_flag(hv::Vcpu& vcpu, uint64_t rsp) {
    // The pushed image's low word holds TF whether 16 or 64 bits were pushed; a 16-bit
    // pushf leaves RSP 2 lower than the 64-bit one: look where RSP is now.
    const uint64_t top = vcpu.debug_registers().rsp;
    if (top != rsp && top != rsp + 6) return;  // not the pushf we stepped (an upcall came)
    std::optional<uint64_t> gpa = vcpu.debug_guest().translate(top + 1, true);
    std::span<uint8_t> byte = gpa ? vcpu.domain().memory().span(*gpa, 1) : std::span<uint8_t>{};
    if (!byte.empty()) byte[0] &= static_cast<uint8_t>(~1u);  // bit 8 of the word at RSP
}

hv::DebugHook::Int3 Introspector::classify_int3(hv::Vcpu& vcpu, uint64_t address) {
    std::optional<uint64_t> gpa = vcpu.debug_guest().translate(address, false);
    if (!gpa) return Int3::Guest;
    std::lock_guard lock(mutex_);
    for (const auto& [va, bp] : breakpoints_)
        if (bp.gpa == *gpa) return Int3::Debugger;
    // No breakpoint of ours there now: if the byte is no int3 any more, one was removed
    // while this vCPU was on its way to it.
    std::span<uint8_t> byte = domain_->memory().span(*gpa, 1);
    return !byte.empty() && byte[0] != kInt3 ? Int3::Removed : Int3::Guest;
}

// ---- running and stopping -----------------------------------------------------------------

bool Introspector::all_stopped_locked() const {
    for (uint32_t i = 0; i < slots_.size(); ++i)
        if (!slots_[i].stopped && domain_->vcpu(i).is_up()) return false;
    return true;
}

void Introspector::stop_all_locked(std::unique_lock<std::mutex>& lock,
                                   std::chrono::milliseconds timeout) {
    for (uint32_t i = 0; i < slots_.size(); ++i)
        if (!slots_[i].stopped) domain_->vcpu(i).request_debug_stop();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!all_stopped_locked()) {
        if (domain_->stopping()) throw Error("the domain is shutting down");
        if (changed_.wait_until(lock, deadline) == std::cv_status::timeout && !all_stopped_locked())
            throw Error("the domain's vCPUs did not all stop within " +
                        std::to_string(timeout.count()) + " ms");
    }
}

void Introspector::stop_all(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    stop_all_locked(lock, timeout);
}

void Introspector::resume(const std::map<uint32_t, Action>& actions, Action others) {
    for (const auto& [vcpu, action] : actions) check_vcpu(vcpu);
    // A step the platform cannot make is refused here: the vCPU would run on instead.
    for (uint32_t i = 0; i < slots_.size(); ++i) {
        auto it = actions.find(i);
        if ((it != actions.end() ? it->second : others) != Action::Step) continue;
        const std::string why = domain_->vcpu(i).debug_support().single_step;
        if (!why.empty()) throw Error("cannot step " + vcpu_name(i) + ": " + why);
    }
    std::unique_lock lock(mutex_);
    if (!events_.empty()) return;  // wait() reports it at once
    std::vector<Action> next(slots_.size(), others);
    for (const auto& [vcpu, action] : actions) next[vcpu] = action;
    if (!finish_writes_locked(lock, next)) return;
    for (uint32_t i = 0; i < slots_.size(); ++i) slots_[i].next = next[i];
    changed_.notify_all();
}

// A write let through opens its page to the writer for one instruction (the process
// platform's means), so it runs alone, the others still stopped: no other vCPU can write
// there unseen meanwhile. Where the platform stops after the instruction and makes the
// store itself (KVM), there is nothing to run and no window.
bool Introspector::finish_writes_locked(std::unique_lock<std::mutex>& lock,
                                        const std::vector<Action>& next) {
    for (uint32_t i = 0; i < slots_.size(); ++i) {
        Slot& slot = slots_[i];
        if (!slot.stopped || !slot.write_pending || !slot.write_needs_instruction ||
            (next[i] != Action::Continue && next[i] != Action::Step))
            continue;
        slot.finishing_write = true;
        slot.finishing_reports_step = next[i] == Action::Step;
        slot.next = Action::Step;
        changed_.notify_all();
        if (!changed_.wait_for(lock, kJobTimeout,
                               [&] { return !slot.finishing_write || domain_->stopping(); }))
            throw Error(vcpu_name(i) + " did not finish its write");
        if (domain_->stopping()) throw Error("the domain is shutting down");
        if (!events_.empty()) return false;  // that instruction stopped on its own account
    }
    return true;
}

std::optional<StopEvent> Introspector::wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return !events_.empty() || domain_->stopping(); }))
        return std::nullopt;
    if (events_.empty()) throw Error("the domain is shutting down");
    StopEvent event = events_.front();
    events_.pop_front();
    // All-stop: the others stop before the client looks (a vCPU that the client left
    // stopped simply stays so).
    stop_all_locked(lock, std::chrono::milliseconds(5000));
    return event;
}

void Introspector::run_on(uint32_t vcpu, std::function<void(hv::Vcpu&)> job) {
    check_vcpu(vcpu);
    std::unique_lock lock(mutex_);
    Slot& slot = slots_[vcpu];
    if (!slot.stopped || slot.next != Action::Stay)
        throw Error(vcpu_name(vcpu) + " is running: stop it first");
    slot.job = std::move(job);
    slot.job_done = false;
    slot.job_error = nullptr;
    changed_.notify_all();
    if (!changed_.wait_for(lock, kJobTimeout, [&] { return slot.job_done || !slot.stopped; }))
        throw Error(vcpu_name(vcpu) + " did not answer");
    if (!slot.job_done) throw Error(vcpu_name(vcpu) + " went away");
    if (slot.job_error) std::rethrow_exception(std::exchange(slot.job_error, nullptr));
}

// ---- registers ----------------------------------------------------------------------------

platform::Registers Introspector::registers(uint32_t vcpu) {
    platform::Registers regs;
    run_on(vcpu, [&](hv::Vcpu& v) { regs = v.debug_registers(); });
    return regs;
}

void Introspector::set_registers(uint32_t vcpu, const platform::Registers& regs) {
    run_on(vcpu, [&](hv::Vcpu& v) {
        v.debug_registers() = regs;
        v.debug_registers_changed();
    });
}

platform::ControlRegisters Introspector::control_registers(uint32_t vcpu) {
    platform::ControlRegisters cr;
    run_on(vcpu, [&](hv::Vcpu& v) { cr = v.debug_control_registers(); });
    return cr;
}

// ---- memory -------------------------------------------------------------------------------

void Introspector::read_gpa_locked(uint64_t gpa, std::span<uint8_t> out) const {
    std::span<uint8_t> ram = domain_->memory().span(gpa, out.size());
    std::memcpy(out.data(), ram.data(), out.size());
    for (const auto& [va, bp] : breakpoints_)
        if (bp.gpa >= gpa && bp.gpa < gpa + out.size()) out[bp.gpa - gpa] = bp.saved;
}

void Introspector::write_gpa_locked(uint64_t gpa, std::span<const uint8_t> in) {
    std::span<uint8_t> ram = domain_->memory().span(gpa, in.size());
    std::memcpy(ram.data(), in.data(), in.size());
    for (auto& [va, bp] : breakpoints_) {
        if (bp.gpa < gpa || bp.gpa >= gpa + in.size()) continue;
        bp.saved = in[bp.gpa - gpa];
        ram[bp.gpa - gpa] = kInt3;
    }
}

std::vector<uint8_t> Introspector::read_physical(uint64_t gpa, size_t len) {
    len = std::min(len, kMaxTransfer);
    const uint64_t size = domain_->memory().size();
    if (gpa >= size) return {};
    len = std::min<uint64_t>(len, size - gpa);
    std::vector<uint8_t> out(len);
    std::lock_guard lock(mutex_);
    read_gpa_locked(gpa, out);
    return out;
}

size_t Introspector::write_physical(uint64_t gpa, std::span<const uint8_t> bytes) {
    const uint64_t size = domain_->memory().size();
    if (gpa >= size) return 0;
    bytes = bytes.first(std::min<uint64_t>({bytes.size(), kMaxTransfer, size - gpa}));
    std::lock_guard lock(mutex_);
    write_gpa_locked(gpa, bytes);
    return bytes.size();
}

namespace {
// The vCPU's view of guest-virtual memory, or the same through the page tables at `cr3`.
hv::GuestAccess access_of(hv::Vcpu& v, std::optional<uint64_t> cr3) {
    hv::GuestAccess own = v.debug_guest();
    return cr3 ? own.with_cr3(*cr3) : own;
}
}  // namespace

std::vector<uint8_t> Introspector::read_virtual(uint32_t vcpu, uint64_t va, size_t len,
                                                std::optional<uint64_t> cr3) {
    std::vector<Piece> pieces;
    len = std::min(len, kMaxTransfer);
    run_on(vcpu, [&](hv::Vcpu& v) { pieces = translate_range(access_of(v, cr3), va, len); });
    std::vector<uint8_t> out;
    std::lock_guard lock(mutex_);
    for (const Piece& p : pieces) {
        const size_t at = out.size();
        out.resize(at + p.len);
        read_gpa_locked(p.gpa, std::span(out).subspan(at));
    }
    return out;
}

size_t Introspector::write_virtual(uint32_t vcpu, uint64_t va, std::span<const uint8_t> bytes,
                                   std::optional<uint64_t> cr3) {
    std::vector<Piece> pieces;
    bytes = bytes.first(std::min(bytes.size(), kMaxTransfer));
    run_on(vcpu,
           [&](hv::Vcpu& v) { pieces = translate_range(access_of(v, cr3), va, bytes.size()); });
    size_t done = 0;
    std::lock_guard lock(mutex_);
    for (const Piece& p : pieces) {
        write_gpa_locked(p.gpa, bytes.subspan(done, p.len));
        done += p.len;
    }
    return done;
}

// ---- breakpoints --------------------------------------------------------------------------

void Introspector::insert_breakpoint(uint32_t vcpu, uint64_t va) {
    check_vcpu(vcpu);
    char where[32];
    std::snprintf(where, sizeof where, "0x%llx", static_cast<unsigned long long>(va));
    // Every vCPU may run into it, so every one must trap int3 (they share one platform).
    const std::string why = domain_->vcpu(vcpu).debug_support().breakpoints;
    if (!why.empty()) throw Error(std::string("no breakpoint at ") + where + ": " + why);
    std::optional<uint64_t> gpa;
    run_on(vcpu, [&](hv::Vcpu& v) { gpa = v.debug_guest().translate(va, false); });
    if (!gpa || domain_->memory().span(*gpa, 1).empty())
        throw Error(std::string("no breakpoint at ") + where + ": the address is not mapped");
    std::lock_guard lock(mutex_);
    for (const auto& [other, bp] : breakpoints_)
        if (other == va || bp.gpa == *gpa)
            throw Error(std::string("there is a breakpoint at ") + where + " already");
    uint8_t& byte = domain_->memory().span(*gpa, 1)[0];
    breakpoints_[va] = Breakpoint{*gpa, byte};
    byte = kInt3;
}

void Introspector::remove_breakpoint(uint64_t va) {
    std::lock_guard lock(mutex_);
    auto it = breakpoints_.find(va);
    if (it == breakpoints_.end()) {
        char where[32];
        std::snprintf(where, sizeof where, "0x%llx", static_cast<unsigned long long>(va));
        throw Error(std::string("there is no breakpoint at ") + where);
    }
    uint8_t& byte = domain_->memory().span(it->second.gpa, 1)[0];
    if (byte == kInt3) byte = it->second.saved;  // else the guest rewrote it: leave that
    breakpoints_.erase(it);
}

void Introspector::remove_all_breakpoints_locked() {
    for (const auto& [va, bp] : breakpoints_) {
        uint8_t& byte = domain_->memory().span(bp.gpa, 1)[0];
        if (byte == kInt3) byte = bp.saved;
    }
    breakpoints_.clear();
}

// ---- page-write events ----------------------------------------------------------------------

size_t Introspector::watch_pages_locked(const std::vector<uint64_t>& pages, bool on) {
    for (uint32_t i = 0; i < slots_.size(); ++i)
        if ((!slots_[i].stopped && domain_->vcpu(i).is_up()) || slots_[i].next != Action::Stay)
            throw Error("the domain's vCPUs must all be stopped to change page-write watches");
    size_t changing = 0;
    for (uint64_t p : pages) changing += watched_.count(p) != on;
    if (on && watched_.size() + changing > kMaxWatchedPages)
        throw Error("at most " + std::to_string(kMaxWatchedPages) + " pages may be watched");
    if (!on && changing == 0) {
        char where[64];
        std::snprintf(where, sizeof where, "0x%llx", static_cast<unsigned long long>(pages[0]));
        throw Error(std::string("no page-write watch at guest-physical ") + where);
    }
    for (uint64_t p : pages) {
        if (watched_.count(p) == on) continue;
        if (!domain_->platform_vm().watch_writes(p, kPage, on))
            throw Error("this platform has no page-write events");
        if (on)
            watched_.insert(p);
        else
            watched_.erase(p);
    }
    return watched_.size();
}

size_t Introspector::watch_writes_physical(uint64_t gpa, uint64_t len, bool on) {
    const uint64_t size = domain_->memory().size();
    if (len == 0 || len > kMaxWatchedPages * kPage || gpa >= size || len > size - gpa) {
        char where[96];
        std::snprintf(where, sizeof where, "0x%llx+0x%llx", static_cast<unsigned long long>(gpa),
                      static_cast<unsigned long long>(len));
        throw Error(std::string("guest-physical ") + where + " is not in the domain's RAM");
    }
    std::vector<uint64_t> pages;
    for (uint64_t p = gpa & ~(kPage - 1); p < gpa + len; p += kPage) pages.push_back(p);
    std::lock_guard lock(mutex_);
    return watch_pages_locked(pages, on);
}

size_t Introspector::watch_writes_virtual(uint32_t vcpu, uint64_t va, uint64_t len, bool on) {
    char where[96];
    std::snprintf(where, sizeof where, "0x%llx+0x%llx", static_cast<unsigned long long>(va),
                  static_cast<unsigned long long>(len));
    if (len == 0 || len > kMaxWatchedPages * kPage || va + len < va)
        throw Error(std::string("guest-virtual ") + where + " is no range that can be watched");
    std::vector<Piece> pieces;
    run_on(vcpu, [&](hv::Vcpu& v) { pieces = translate_range(v.debug_guest(), va, len); });
    size_t covered = 0;
    std::vector<uint64_t> pages;
    for (const Piece& p : pieces) {
        covered += p.len;
        if (p.gpa >= domain_->memory().size()) break;
        pages.push_back(p.gpa & ~(kPage - 1));
    }
    if (covered < len || pages.size() != pieces.size())
        throw Error(std::string("guest-virtual ") + where + " is not all mapped to RAM");
    std::lock_guard lock(mutex_);
    return watch_pages_locked(pages, on);
}

size_t Introspector::watched_pages() const {
    std::lock_guard lock(mutex_);
    return watched_.size();
}

void Introspector::remove_all_watches_locked() noexcept {
    for (uint64_t p : watched_) {
        try {
            domain_->platform_vm().watch_writes(p, kPage, false);
        } catch (const std::exception&) {
            // The stub or VM is gone: nothing is left to watch.
        }
    }
    watched_.clear();
}

size_t Introspector::breakpoint_count() const {
    std::lock_guard lock(mutex_);
    return breakpoints_.size();
}

}  // namespace xenolith::vmi
