#include "hv/trace_buffer.hpp"

#include <algorithm>
#include <utility>

namespace xenolith::hv {

void TraceBuffer::record(TraceRecord r) {
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

std::vector<TraceRecord> TraceBuffer::take(std::chrono::milliseconds timeout, size_t max,
                                           uint64_t& dropped) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, timeout,
                    [&] { return records_.size() >= std::min(kWakeBatch, capacity_) || closed_; });
    std::vector<TraceRecord> out;
    while (!records_.empty() && out.size() < max) {
        out.push_back(std::move(records_.front()));
        records_.pop_front();
    }
    dropped = std::exchange(dropped_, 0);
    return out;
}

void TraceBuffer::close() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    ready_.notify_all();
}

bool TraceBuffer::closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
}

}  // namespace xenolith::hv
