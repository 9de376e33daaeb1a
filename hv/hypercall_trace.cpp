#include "hv/hypercall_trace.hpp"

#include <algorithm>
#include <utility>

namespace xenolith::hv {

void HypercallTrace::record(HypercallRecord r) {
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (records_.size() >= capacity_) {
            ++dropped_;
            return;
        }
        records_.push_back(std::move(r));
        wake = records_.size() == std::min(kWakeBatch, capacity_);
    }
    if (wake) ready_.notify_one();
}

std::vector<HypercallRecord> HypercallTrace::take(std::chrono::milliseconds timeout, size_t max,
                                                  uint64_t& dropped) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, timeout,
                    [&] { return records_.size() >= std::min(kWakeBatch, capacity_) || closed_; });
    std::vector<HypercallRecord> out;
    while (!records_.empty() && out.size() < max) {
        out.push_back(std::move(records_.front()));
        records_.pop_front();
    }
    dropped = std::exchange(dropped_, 0);
    return out;
}

void HypercallTrace::close() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    ready_.notify_all();
}

bool HypercallTrace::closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
}

}  // namespace xenolith::hv
