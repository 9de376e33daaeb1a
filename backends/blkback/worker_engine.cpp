#include "backends/blkback/worker_engine.hpp"

#include <unistd.h>

#include <cerrno>
#include <climits>

#include "base/error.hpp"
#include "base/event_fd.hpp"

namespace xenolith::blkback {

WorkerEngine::WorkerEngine(std::shared_ptr<const Image> image, unsigned threads)
    : image_(std::move(image)) {
    event_ = make_event_fd();
    if (threads == 0) threads = 1;
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

WorkerEngine::~WorkerEngine() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
}

void WorkerEngine::submit(std::span<const IoOp> ops) {
    {
        std::lock_guard lock(mutex_);
        queue_.insert(queue_.end(), ops.begin(), ops.end());
    }
    if (ops.size() == 1)
        wake_.notify_one();
    else
        wake_.notify_all();
}

std::vector<IoCompletion> WorkerEngine::reap() {
    uint64_t count;
    ssize_t rc = ::read(event_.get(), &count, sizeof count);
    (void)rc;
    std::lock_guard lock(mutex_);
    return std::exchange(done_, {});
}

void WorkerEngine::work() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left to run
        IoOp op = queue_.front();
        queue_.pop_front();
        lock.unlock();
        IoCompletion done{op.tag, execute(op)};
        lock.lock();
        done_.push_back(done);
        signal_event(event_.get());
    }
}

int64_t WorkerEngine::execute(const IoOp& op) const {
    int fd = image_->fd();
    if ((op.kind == IoOp::Kind::Read || op.kind == IoOp::Kind::Write) && op.iov.size() > IOV_MAX)
        return -EINVAL;
    auto iovcnt = static_cast<int>(op.iov.size());
    ssize_t rc = 0;
    switch (op.kind) {
        case IoOp::Kind::Read:
            rc = ::preadv(fd, op.iov.data(), iovcnt, static_cast<off_t>(op.offset));
            break;
        case IoOp::Kind::Write:
            rc = ::pwritev(fd, op.iov.data(), iovcnt, static_cast<off_t>(op.offset));
            break;
        case IoOp::Kind::Sync:
            rc = ::fdatasync(fd);
            break;
        case IoOp::Kind::Discard:
            return image_->discard(op.offset, op.length);
    }
    return rc < 0 ? -errno : rc;
}

}  // namespace xenolith::blkback
