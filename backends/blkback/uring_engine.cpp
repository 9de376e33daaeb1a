#include "backends/blkback/uring_engine.hpp"

#include <linux/falloc.h>
#include <sys/eventfd.h>

#include <cerrno>

#include "base/error.hpp"
#include "base/event_fd.hpp"

namespace xenolith::blkback {

namespace {
// From this size on a read or write is handed to io-wq (IOSQE_ASYNC).
constexpr uint64_t kAsyncBytes = 256 * 1024;
}  // namespace

UringEngine::UringEngine(std::shared_ptr<const Image> image, unsigned depth)
    : image_(std::move(image)) {
    unsigned entries = depth < 8 ? 8 : depth;
    if (int rc = io_uring_queue_init(entries, &ring_, 0); rc < 0)
        throw SystemError("io_uring_queue_init", -rc);
    event_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    int rc = event_ ? io_uring_register_eventfd(&ring_, event_.get()) : -errno;
    if (rc < 0) {
        io_uring_queue_exit(&ring_);
        throw SystemError("io_uring_register_eventfd", -rc);
    }
}

UringEngine::~UringEngine() {
    flush_submissions();
    while (in_flight_ > 0) {
        io_uring_cqe* cqe = nullptr;
        int rc = io_uring_wait_cqe(&ring_, &cqe);
        if (rc == -EINTR) continue;
        if (rc < 0) break;  // the ring is unusable; queue_exit below cancels what is left
        io_uring_cqe_seen(&ring_, cqe);
        --in_flight_;
    }
    io_uring_queue_exit(&ring_);
}

void UringEngine::submit(std::span<const IoOp> ops) {
    for (const IoOp& op : ops) queue(op);
    flush_submissions();
}

void UringEngine::queue(const IoOp& op) {
    if (op.kind == IoOp::Kind::Discard && image_->block_device()) {
        complete_now(op.tag, image_->discard(op.offset, op.length));
        return;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {  // the submission queue is full: hand it to the kernel and take a fresh one
        flush_submissions();
        sqe = io_uring_get_sqe(&ring_);
    }
    if (!sqe) {
        complete_now(op.tag, -EBUSY);
        return;
    }
    int fd = image_->fd();
    auto iovcnt = static_cast<unsigned>(op.iov.size());
    switch (op.kind) {
        case IoOp::Kind::Read:
            io_uring_prep_readv(sqe, fd, op.iov.data(), iovcnt, op.offset);
            break;
        case IoOp::Kind::Write:
            io_uring_prep_writev(sqe, fd, op.iov.data(), iovcnt, op.offset);
            break;
        case IoOp::Kind::Sync:
            io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
            break;
        case IoOp::Kind::Discard:
            io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                    static_cast<off_t>(op.offset), static_cast<off_t>(op.length));
            break;
    }
    // Large transfers go to the kernel's io-wq workers rather than being copied inline by
    // the submitting ring thread: several copy at once, and the thread goes back to the ring.
    if ((op.kind == IoOp::Kind::Read || op.kind == IoOp::Kind::Write) && op.length >= kAsyncBytes)
        io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
    io_uring_sqe_set_data64(sqe, op.tag);
    ++in_flight_;
}

void UringEngine::complete_now(uint64_t tag, int64_t result) {
    immediate_.push_back({tag, result});
    signal_event(event_.get());  // wakes the poller like a CQE
}

void UringEngine::flush_submissions() {
    // SQEs the kernel refuses now (EINTR, or EAGAIN under memory pressure) stay queued in
    // the SQ and go with the next call; reap() retries.
    for (int tries = 0; io_uring_sq_ready(&ring_) > 0 && tries < 16; ++tries) {
        int rc = io_uring_submit(&ring_);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN) break;
    }
}

std::vector<IoCompletion> UringEngine::reap() {
    uint64_t count;
    ssize_t rc = ::read(event_.get(), &count, sizeof count);
    (void)rc;
    std::vector<IoCompletion> done = std::move(immediate_);
    immediate_.clear();
    if (io_uring_sq_ready(&ring_) > 0) flush_submissions();
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
        done.push_back({io_uring_cqe_get_data64(cqe), cqe->res});
        ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
    in_flight_ -= seen;
    return done;
}

}  // namespace xenolith::blkback
