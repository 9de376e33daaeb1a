// IoEngine on worker threads: each takes the next op, makes the blocking system call
// (preadv, pwritev, fdatasync, hole punch or BLKDISCARD) and posts its completion. For
// hosts whose kernel or seccomp policy refuses io_uring, and to test the connection on two
// engines.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "backends/blkback/io_engine.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::blkback {

class WorkerEngine final : public IoEngine {
  public:
    static constexpr unsigned kDefaultThreads = 4;

    explicit WorkerEngine(std::shared_ptr<const Image> image, unsigned threads = kDefaultThreads);
    // Runs every op already submitted, then joins the workers: the callers' buffers are
    // not touched after this returns.
    ~WorkerEngine() override;
    WorkerEngine(const WorkerEngine&) = delete;
    WorkerEngine& operator=(const WorkerEngine&) = delete;

    const char* name() const override { return "worker"; }
    void submit(std::span<const IoOp> ops) override;
    int event_fd() const override { return event_.get(); }
    std::vector<IoCompletion> reap() override;

  private:
    void work();
    int64_t execute(const IoOp& op) const;

    std::shared_ptr<const Image> image_;
    UniqueFd event_;
    std::mutex mutex_;  // queue_, done_, stopping_
    std::condition_variable wake_;
    std::deque<IoOp> queue_;
    std::vector<IoCompletion> done_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace xenolith::blkback
