// IoEngine on io_uring (Debian's liburing): readv/writev/fsync/fallocate go to the kernel
// in one io_uring_submit per batch, and the ring's registered eventfd signals completions.
// io_uring has no discard for block devices here, so those run synchronously and complete
// through the same eventfd; discards are rare and bounded by the ring.
#pragma once

#include <liburing.h>

#include "backends/blkback/io_engine.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::blkback {

class UringEngine final : public IoEngine {
  public:
    // Throws SystemError when io_uring_queue_init fails (the caller may fall back).
    UringEngine(std::shared_ptr<const Image> image, unsigned depth);
    // Waits for what is still in flight: the kernel may be writing into the callers' buffers.
    ~UringEngine() override;
    UringEngine(const UringEngine&) = delete;
    UringEngine& operator=(const UringEngine&) = delete;

    const char* name() const override { return "uring"; }
    void submit(std::span<const IoOp> ops) override;
    int event_fd() const override { return event_.get(); }
    std::vector<IoCompletion> reap() override;

  private:
    // Fills one SQE for `op`, or completes it at once (synchronous discard, or no SQE).
    void queue(const IoOp& op);
    void complete_now(uint64_t tag, int64_t result);
    void flush_submissions();

    std::shared_ptr<const Image> image_;
    io_uring ring_{};
    UniqueFd event_;
    std::vector<IoCompletion> immediate_;  // completed without the kernel's ring
    uint64_t in_flight_ = 0;               // SQEs queued or submitted, not yet reaped
};

}  // namespace xenolith::blkback
