#include "state/precopy.hpp"

#include <algorithm>
#include <bit>

#include "base/error.hpp"

namespace xenolith::state {

namespace {

uint64_t ms_between(std::chrono::steady_clock::time_point a,
                    std::chrono::steady_clock::time_point b) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
}

// Whether the pages left can go with the domain paused, judged by the last round's rate.
// Not by round 0's: most of RAM is zeros or compresses well, so its rate promises more
// than scattered written pages (each faulted in anew on the receiver) deliver.
bool small_enough(const PrecopyPolicy& policy, const PrecopyRound& last, uint64_t dirty) {
    if (dirty <= policy.min_stop_pages) return true;
    if (last.round == 0) return false;
    const double pages_per_ms =
        static_cast<double>(last.sent.pages) / static_cast<double>(last.ms + 1);
    return static_cast<double>(dirty) <=
           pages_per_ms * static_cast<double>(policy.target_downtime.count());
}

}  // namespace

Precopy::Precopy(hv::Domain& domain)
    : domain_(domain), bitmap_((domain.memory().nr_pages() + 63) / 64) {
    guest_log_ = domain.platform_vm().start_dirty_log();
    domain.memory().written().start();
}

Precopy::~Precopy() {
    domain_.memory().written().stop();
}

std::vector<uint64_t> Precopy::take_written() {
    std::fill(bitmap_.begin(), bitmap_.end(), 0);
    guest_log_->collect(bitmap_);
    domain_.mark_live_writes();
    domain_.memory().written().take(bitmap_);
    std::vector<uint64_t> pfns;
    const uint64_t nr_pages = domain_.memory().nr_pages();
    for (size_t w = 0; w < bitmap_.size(); ++w) {
        for (uint64_t bits = bitmap_[w]; bits != 0; bits &= bits - 1) {
            const uint64_t pfn = w * 64 + static_cast<uint64_t>(std::countr_zero(bits));
            if (pfn < nr_pages) pfns.push_back(pfn);
        }
    }
    return pfns;
}

void Precopy::run(DomainSaver& saver, const PrecopyPolicy& policy, const Progress& progress,
                  const std::function<void()>& catch_up) {
    const double ram_pages = static_cast<double>(domain_.memory().nr_pages());
    uint64_t sent_total = 0;
    std::vector<uint64_t> dirty;
    for (uint32_t round = 0;; ++round) {
        const auto t0 = std::chrono::steady_clock::now();
        PrecopyRound r{.round = round,
                       .to_send = round == 0 ? domain_.memory().nr_pages() : dirty.size()};
        if (progress) progress(r);
        r.sent = round == 0 ? saver.send_all_pages() : saver.send_pages(dirty);
        if (catch_up) catch_up();
        dirty = take_written();
        r.dirty = dirty.size();
        r.ms = ms_between(t0, std::chrono::steady_clock::now());
        r.ended = true;
        sent_total += r.sent.pages;
        rounds_ = round + 1;
        if (progress) progress(r);
        if (small_enough(policy, r, r.dirty) || rounds_ >= policy.max_rounds ||
            static_cast<double>(sent_total) >= policy.max_sent_factor * ram_pages) {
            pending_ = std::move(dirty);
            return;
        }
    }
}

PageCounts Precopy::last_round(DomainSaver& saver) {
    if (!domain_.paused())
        throw Error("domain " + domain_.name() + " must be paused for the last round");
    std::vector<uint64_t> pfns = take_written();
    pfns.insert(pfns.end(), pending_.begin(), pending_.end());
    std::sort(pfns.begin(), pfns.end());
    pfns.erase(std::unique(pfns.begin(), pfns.end()), pfns.end());
    pending_.clear();
    return saver.send_pages(pfns);
}

}  // namespace xenolith::state
