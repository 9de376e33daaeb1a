// Which pages of a domain's RAM the host wrote (hv/ and the backends, through the daemon's
// mapping) while live migration copies it: Xen's log-dirty mode, for the writes its own
// paging_mark_dirty() calls cover. The guest's own writes are the platform's to log
// (platform::DirtyLog); a migration takes the union of both.
//
// One bit per page, set with relaxed atomics so that any thread may mark while another
// takes: a bit set after take() has read its word is simply taken next time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

namespace xenolith::hv {

class PageLog {
  public:
    explicit PageLog(uint64_t nr_pages)
        : words_((nr_pages + 63) / 64), bits_(std::make_unique<std::atomic<uint64_t>[]>(words_)) {}

    // Logging on (bits cleared first) or off. Marks made while off are dropped.
    void start() {
        for (size_t i = 0; i < words_; ++i) bits_[i].store(0, std::memory_order_relaxed);
        on_.store(true, std::memory_order_release);
    }
    void stop() { on_.store(false, std::memory_order_release); }
    bool on() const { return on_.load(std::memory_order_relaxed); }

    // Pages [first, first + count) were written: cheap when the log is off.
    void mark(uint64_t first, uint64_t count) {
        if (!on()) return;
        for (uint64_t p = first; p < first + count && p / 64 < words_; ++p)
            bits_[p / 64].fetch_or(uint64_t{1} << (p % 64), std::memory_order_relaxed);
    }
    // ORs the marked pages into `bitmap` (as many words as fit) and clears them.
    void take(std::span<uint64_t> bitmap) {
        for (size_t i = 0; i < words_ && i < bitmap.size(); ++i)
            bitmap[i] |= bits_[i].exchange(0, std::memory_order_relaxed);
    }

  private:
    const size_t words_;
    std::unique_ptr<std::atomic<uint64_t>[]> bits_;
    std::atomic<bool> on_{false};
};

}  // namespace xenolith::hv
