#include "platform/kvm/ram_layout.hpp"

#include <cstring>

#include "base/error.hpp"
#include "platform/dirty_bitmap.hpp"

namespace xenolith::kvm {

namespace {

constexpr uint64_t kPage = 4096;
// RAM's slots beyond the first: above the extra pages' (kvm_platform.hpp uses 1 + key).
constexpr uint32_t kMoreRamSlots = 1024;

}  // namespace

RamLayout::RamLayout(Vm& vm, uint8_t* host, uint64_t size) : vm_(vm), host_(host), size_(size) {
    slots_.emplace_back(vm_, 0, 0, host_, size_);
}

void RamLayout::watch(uint64_t gpa, uint64_t len, bool on) {
    if (len == 0 || !in_ram(gpa, len)) throw Error("guest-physical range is not the guest's RAM");
    if (on && vm_.check_extension(KVM_CAP_READONLY_MEM) <= 0)
        throw Error(
            "page-write events are unavailable: this KVM has no read-only memory slots "
            "(KVM_CAP_READONLY_MEM)");
    std::lock_guard lock(mutex_);
    if (logging_)
        throw Error(
            "page-write events are unavailable while guest writes are logged for live "
            "migration (KVM's dirty log)");
    const std::set<uint64_t> before = watched_;
    const uint64_t end = (gpa + len + kPage - 1) & ~(kPage - 1);
    for (uint64_t p = gpa & ~(kPage - 1); p < end; p += kPage) {
        if (on)
            watched_.insert(p);
        else
            watched_.erase(p);
    }
    try {
        relayout();
    } catch (...) {
        // Back to the layout that worked, so that the guest keeps all of its RAM.
        watched_ = before;
        relayout();
        throw;
    }
}

std::vector<RamRun> ram_runs(const std::set<uint64_t>& watched, uint64_t size) {
    std::vector<RamRun> runs;
    uint64_t at = 0;
    for (uint64_t p : watched) {
        if (!runs.empty() && runs.back().read_only && runs.back().end == p) {
            runs.back().end = p + kPage;
        } else {
            if (p > at) runs.push_back({at, p, false});
            runs.push_back({p, p + kPage, true});
        }
        at = p + kPage;
    }
    if (at < size) runs.push_back({at, size, false});
    return runs;
}

// Each run its own slot: slot 0 the first, the rest numbered above the extra pages'. Old
// slots go first (KVM refuses overlapping ones).
void RamLayout::relayout() {
    const std::vector<RamRun> runs = ram_runs(watched_, size_);
    if (runs.size() > kMoreRamSlots)
        throw Error("too many separate watched ranges for KVM's memory slots");
    slots_.clear();
    for (size_t i = 0; i < runs.size(); ++i) {
        const RamRun& r = runs[i];
        const uint32_t slot = i == 0 ? 0 : kMoreRamSlots + static_cast<uint32_t>(i);
        slots_.emplace_back(vm_, slot, r.start, host_ + r.start, r.end - r.start,
                            r.read_only ? KVM_MEM_READONLY : 0);
    }
}

bool RamLayout::watched(uint64_t gpa) const {
    std::lock_guard lock(mutex_);
    return watched_.count(gpa & ~(kPage - 1)) != 0;
}

void RamLayout::log_dirty(bool on) {
    std::lock_guard lock(mutex_);
    if (on == logging_) {
        if (on) throw Error("guest writes are already being logged for this VM");
        return;
    }
    if (on && !watched_.empty())
        throw Error(
            "guest writes cannot be logged while pages are watched for page-write events "
            "(introspection)");
    try {
        set_slot_flags(on ? KVM_MEM_LOG_DIRTY_PAGES : 0);
    } catch (...) {
        try {
            set_slot_flags(logging_ ? KVM_MEM_LOG_DIRTY_PAGES : 0);  // as they were
        } catch (const Error&) {
            // The first failure is the one to report.
        }
        throw;
    }
    logging_ = on;
}

// Only while nothing is watched, so every slot is writable RAM.
void RamLayout::set_slot_flags(uint32_t flags) {
    for (MemorySlot& slot : slots_)
        if (slot.flags() != flags) slot.set_flags(flags);
}

void RamLayout::collect_dirty(std::span<uint64_t> bitmap) {
    std::lock_guard lock(mutex_);
    if (!logging_) throw Error("guest writes are not being logged for this VM");
    platform::check_dirty_bitmap(bitmap, size_ / kPage);
    for (const MemorySlot& slot : slots_) {
        const uint64_t pages = slot.size() / kPage;
        slot_bits_.assign((pages + 63) / 64, 0);
        vm_.get_dirty_log(slot.slot(), slot_bits_.data());
        platform::or_dirty(bitmap, slot_bits_, slot.gpa() / kPage, pages);
    }
}

void RamLayout::write(uint64_t gpa, const uint8_t* data, uint64_t len) const {
    if (!in_ram(gpa, len)) return;
    std::memcpy(host_ + gpa, data, len);
}

}  // namespace xenolith::kvm
