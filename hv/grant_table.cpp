#include "hv/grant_table.hpp"

#include "abi/xen.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

#include "base/error.hpp"

namespace xenolith::hv {

namespace {

// Pins per entry and kind: far above what backends use, and no counter can wrap.
constexpr uint32_t kMaxPins = 0xffff;
// The guest may race our update of its entry; bounded retries keep it from livelocking
// the hypervisor (Xen allows five tries too).
constexpr int kMaxEntryRetries = 5;

// flags (low half) and domid (high half) of an entry, updated as one 32-bit word because
// the guest writes them concurrently.
std::atomic_ref<uint32_t> header(grant_entry_v1_t& e) {
    static_assert(offsetof(grant_entry_v1_t, flags) == 0 && offsetof(grant_entry_v1_t, domid) == 2);
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(&e));
}

void clear_flags(grant_entry_v1_t* e, uint32_t flags) {
    if (e) header(*e).fetch_and(~flags);
}

// Sets GTF_reading (and GTF_writing) for `user`. On a first pin the entry must permit
// access to `user`; a write pin needs an entry without GTF_readonly.
int16_t set_status(grant_entry_v1_t& e, bool first_pin, bool readonly, domid_t user) {
    auto word = header(e);
    uint32_t old = word.load();
    for (int tries = 0; tries < kMaxEntryRetries; ++tries) {
        const auto flags = static_cast<uint16_t>(old & 0xffff);
        const auto domid = static_cast<domid_t>(old >> 16);
        if (first_pin && ((flags & GTF_type_mask) != GTF_permit_access || domid != user))
            return GNTST_general_error;
        uint32_t next = old | GTF_reading;
        if (!readonly) {
            if (flags & GTF_readonly) return GNTST_general_error;
            next |= GTF_writing;
        }
        if (word.compare_exchange_strong(old, next)) return GNTST_okay;
    }
    return GNTST_general_error;  // the guest keeps changing the entry under us
}

}  // namespace

// --- GrantMapping ----------------------------------------------------------------------

GrantMapping::GrantMapping(GrantMapping&& other) noexcept {
    *this = std::move(other);
}

GrantMapping& GrantMapping::operator=(GrantMapping&& other) noexcept {
    if (this != &other) {
        reset();
        table_ = std::move(other.table_);
        page_ = std::exchange(other.page_, nullptr);
        ref_ = other.ref_;
        readonly_ = other.readonly_;
        status_ = std::exchange(other.status_, int16_t{GNTST_general_error});
    }
    return *this;
}

bool GrantMapping::valid() const {
    return table_ && page_ && !table_->closed();
}

std::span<const uint8_t> GrantMapping::page() const {
    if (!valid()) return {};
    return {page_, static_cast<size_t>(kPageSize)};
}

std::span<uint8_t> GrantMapping::writable_page() const {
    if (readonly_ || !valid()) return {};
    return {page_, static_cast<size_t>(kPageSize)};
}

void GrantMapping::reset() {
    if (table_ && page_) table_->unpin(ref_, readonly_);
    table_.reset();
    page_ = nullptr;
    status_ = GNTST_general_error;
}

// --- GrantTable ------------------------------------------------------------------------

GrantTable::GrantTable(domid_t owner, std::shared_ptr<GuestMemory> memory, uint32_t max_frames)
    : owner_(owner), memory_(std::move(memory)), max_frames_(max_frames) {
    if (max_frames > kMaxGrantFramesCeiling)
        throw Error("max_grant_frames " + std::to_string(max_frames) + " exceeds the limit of " +
                    std::to_string(kMaxGrantFramesCeiling));
}

uint32_t GrantTable::nr_frames() const {
    std::lock_guard lock(mutex_);
    return static_cast<uint32_t>(frames_.size());
}

std::vector<xen_pfn_t> GrantTable::frame_list(uint32_t n) const {
    std::lock_guard lock(mutex_);
    if (n > frames_.size()) return {};
    std::vector<xen_pfn_t> out(n);
    for (uint32_t i = 0; i < n; ++i) out[i] = frames_[i] == kNoFrame ? kInvalidGfn : frames_[i];
    return out;
}

bool GrantTable::closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
}

uint32_t GrantTable::pins(grant_ref_t ref) const {
    std::lock_guard lock(mutex_);
    auto it = active_.find(ref);
    return it == active_.end() ? 0 : it->second.readers + it->second.writers;
}

GrantTable::Usage GrantTable::usage() const {
    std::lock_guard lock(mutex_);
    Usage u;
    u.mapped = static_cast<uint32_t>(active_.size());
    if (closed_) return u;
    for (grant_ref_t ref = 0; ref < frames_.size() * kGrantEntriesPerFrame; ++ref) {
        const grant_entry_v1_t* e = entry_locked(ref);
        if (e && (__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & GTF_type_mask) != GTF_invalid)
            ++u.entries;
    }
    return u;
}

long GrantTable::place_frame(uint64_t idx, uint64_t gpfn) {
    // Also refuses XENMAPIDX_grant_table_status: v1 tables have no status frames.
    if (idx >= max_frames_) return -XEN_EINVAL;
    std::lock_guard lock(mutex_);
    if (closed_) return -XEN_ESRCH;
    const bool in_ram = gpfn < memory_->nr_pages();
    // Outside RAM only where the domain can map pages of ours, and below the 1 TiB that
    // every x86-64 CPU this runs on can address.
    if (!in_ram && (!physmap_ || gpfn >= kMaxOwnPageGpfn)) return -XEN_EINVAL;
    if (idx < frames_.size() && frames_[idx] == gpfn) return 0;
    if (!in_ram && !own_pages_) {
        try {
            own_pages_ = Mapping::map(-1, uint64_t{max_frames_} * kPageSize, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS);
        } catch (const std::exception&) {
            return -XEN_ENOMEM;
        }
    }
    // A page holds one frame: whatever frame was here loses its page.
    for (size_t i = 0; i < frames_.size(); ++i) {
        if (frames_[i] != gpfn || i == idx) continue;
        if (own_page_[i]) physmap_(static_cast<uint32_t>(i), frames_[i], nullptr);
        frames_[i] = kNoFrame;
    }
    if (idx >= frames_.size()) {
        frames_.resize(idx + 1, kNoFrame);
        own_page_.resize(idx + 1, false);
    }
    uint8_t* const old_page = frame_page_locked(idx);
    uint8_t* const new_page =
        in_ram ? memory_->base() + (gpfn << kPageShift) : own_pages_.data() + idx * kPageSize;
    if (!old_page)
        std::memset(new_page, 0, kPageSize);
    else if (old_page != new_page)
        std::memmove(new_page, old_page, kPageSize);
    if (frames_[idx] != kNoFrame && own_page_[idx])
        physmap_(static_cast<uint32_t>(idx), frames_[idx], nullptr);
    frames_[idx] = gpfn;
    own_page_[idx] = !in_ram;
    if (!in_ram) physmap_(static_cast<uint32_t>(idx), gpfn, new_page);
    return 0;
}

void GrantTable::set_physmap_hook(PhysmapHook hook) {
    std::lock_guard lock(mutex_);
    physmap_ = std::move(hook);
}

uint8_t* GrantTable::frame_page_locked(uint64_t idx) const {
    if (idx >= frames_.size() || frames_[idx] == kNoFrame) return nullptr;
    if (own_page_[idx]) return own_pages_.data() + idx * kPageSize;
    return memory_->base() + (frames_[idx] << kPageShift);
}

long GrantTable::restore_frames(std::span<const xen_pfn_t> gpfns) {
    if (gpfns.size() > max_frames_) return -XEN_EINVAL;
    std::lock_guard lock(mutex_);
    if (closed_ || !frames_.empty()) return -XEN_EINVAL;
    std::vector<uint64_t> frames;
    for (xen_pfn_t gpfn : gpfns) {
        if (gpfn == kInvalidGfn) {
            frames.push_back(kNoFrame);
            continue;
        }
        const bool taken = std::find(frames.begin(), frames.end(), gpfn) != frames.end();
        if (gpfn >= memory_->nr_pages() || taken) return -XEN_EINVAL;
        frames.push_back(gpfn);
    }
    frames_ = std::move(frames);
    own_page_.assign(frames_.size(), false);
    for (uint32_t ref = 0; ref < frames_.size() * kGrantEntriesPerFrame; ++ref)
        if (grant_entry_v1_t* e = entry_locked(ref))
            std::atomic_ref<uint16_t>(e->flags).fetch_and(
                static_cast<uint16_t>(~(GTF_reading | GTF_writing)));
    return 0;
}

long GrantTable::place_boot_frames(uint64_t gpa, uint32_t count) {
    if (gpa % kPageSize) return -XEN_EINVAL;
    count = std::min(count, max_frames_);
    for (uint32_t i = 0; i < count; ++i)
        if (long rc = place_frame(i, (gpa >> kPageShift) + i); rc < 0) return rc;
    return 0;
}

grant_entry_v1_t* GrantTable::entry_locked(grant_ref_t ref) const {
    uint8_t* page = frame_page_locked(ref / kGrantEntriesPerFrame);
    if (!page) return nullptr;
    return reinterpret_cast<grant_entry_v1_t*>(page + (ref % kGrantEntriesPerFrame) *
                                                          sizeof(grant_entry_v1_t));
}

GrantMapping GrantTable::map(grant_ref_t ref, domid_t user, bool readonly) {
    std::lock_guard lock(mutex_);
    if (closed_) return GrantMapping(GNTST_bad_domain);
    if (ref >= frames_.size() * kGrantEntriesPerFrame) return GrantMapping(GNTST_bad_gntref);
    grant_entry_v1_t* entry = entry_locked(ref);
    auto it = active_.find(ref);
    if (it != active_.end()) {
        Active& act = it->second;
        // Pinned: the entry is shadowed; only the same user may add pins (Xen's act->domid).
        if (act.user != user) return GrantMapping(GNTST_general_error);
        uint32_t& count = readonly ? act.readers : act.writers;
        if (count >= kMaxPins) return GrantMapping(GNTST_general_error);
        if (!readonly && act.writers == 0) {
            if (!entry) return GrantMapping(GNTST_general_error);
            if (int16_t st = set_status(*entry, false, false, user); st != GNTST_okay)
                return GrantMapping(st);
        }
        ++count;
        return GrantMapping(shared_from_this(), memory_->base() + (act.gpfn << kPageShift), ref,
                            readonly);
    }
    if (!entry) return GrantMapping(GNTST_general_error);  // a frame without a page: all invalid
    if (int16_t st = set_status(*entry, true, readonly, user); st != GNTST_okay)
        return GrantMapping(st);
    // The frame is read once the flags are set: from here on the guest may not change it.
    uint64_t gpfn = std::atomic_ref<uint32_t>(entry->frame).load();
    if (gpfn >= memory_->nr_pages()) {
        clear_flags(entry, readonly ? GTF_reading : GTF_reading | GTF_writing);
        return GrantMapping(GNTST_bad_page);
    }
    Active act{.user = user, .gpfn = gpfn};
    (readonly ? act.readers : act.writers) = 1;
    active_.emplace(ref, act);
    return GrantMapping(shared_from_this(), memory_->base() + (gpfn << kPageShift), ref, readonly);
}

void GrantTable::unpin(grant_ref_t ref, bool readonly) {
    std::lock_guard lock(mutex_);
    if (closed_) return;  // close() dropped every pin
    auto it = active_.find(ref);
    if (it == active_.end()) return;
    Active& act = it->second;
    uint32_t& count = readonly ? act.readers : act.writers;
    if (count == 0) return;
    --count;
    // The user is done writing: for live migration the page is dirty now (its writes came
    // after any earlier take of the log).
    if (!readonly) memory_->mark_written(act.gpfn << kPageShift, kPageSize);
    uint32_t clear = 0;
    if (!readonly && act.writers == 0) clear |= GTF_writing;
    if (act.readers + act.writers == 0) clear |= GTF_reading;
    clear_flags(entry_locked(ref), clear);
    if (act.readers + act.writers == 0) active_.erase(it);
}

void GrantTable::mark_live_writes() const {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < frames_.size(); ++i)
        if (frames_[i] != kNoFrame && !own_page_[i])
            memory_->mark_written(frames_[i] << kPageShift, kPageSize);
    for (const auto& [ref, act] : active_)
        if (act.writers > 0) memory_->mark_written(act.gpfn << kPageShift, kPageSize);
}

void GrantTable::close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    active_.clear();
    physmap_ = nullptr;  // the domain (and its VM) goes; this table may outlive it
}

}  // namespace xenolith::hv
