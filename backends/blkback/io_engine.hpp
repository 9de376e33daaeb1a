// Asynchronous I/O on an Image for the ring thread: it submits batches of operations and
// learns of their completion through an eventfd it polls beside the guest's event channel.
// Two engines implement it: io_uring (uring_engine.*) and, where the kernel refuses
// io_uring, a pool of worker threads making the same system calls (worker_engine.*).
//
// Not thread-safe: one thread submits and reaps (the connection's ring thread).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backends/blkback/image.hpp"

namespace xenolith::blkback {

struct IoOp {
    enum class Kind : uint8_t { Read, Write, Sync, Discard };
    Kind kind = Kind::Read;
    uint64_t offset = 0;  // bytes, for Read, Write and Discard
    uint64_t length = 0;  // bytes, for Discard
    // Read and Write: the buffers, which must stay valid (with the memory they name) until
    // the operation's completion has been reaped.
    std::span<const iovec> iov;
    uint64_t tag = 0;  // the caller's, returned with the completion
};

struct IoCompletion {
    uint64_t tag = 0;
    // Bytes moved (Read, Write; possibly short), 0 (Sync, Discard), or a negative errno.
    int64_t result = 0;
};

class IoEngine {
  public:
    virtual ~IoEngine() = default;
    virtual const char* name() const = 0;
    // Starts every op; their completions arrive in any order. Never fails as a whole: an
    // op the engine cannot start completes with a negative errno.
    virtual void submit(std::span<const IoOp> ops) = 0;
    // Readable while completions wait to be reaped.
    virtual int event_fd() const = 0;
    // The completions that have arrived (empty if none); clears event_fd()'s readiness
    // before looking, so a completion arriving meanwhile makes it readable again.
    virtual std::vector<IoCompletion> reap() = 0;
};

enum class IoEngineKind { Auto, Uring, Worker };

// `XENOLITH_BLK_IO=uring|worker` when set (for tests and benchmarks), else Auto. Throws
// Error on any other value.
IoEngineKind io_engine_kind_from_env();
// "auto", "uring", "worker".
const char* to_string(IoEngineKind kind);

// An engine for `image` able to keep `depth` operations in flight. Auto takes
// XENOLITH_BLK_IO's choice when set, else tries io_uring and falls back to workers when
// io_uring_queue_init fails (a kernel without it, or a seccomp policy that forbids it);
// Uring throws SystemError instead of falling back.
std::unique_ptr<IoEngine> make_io_engine(std::shared_ptr<const Image> image, IoEngineKind kind,
                                         unsigned depth);

}  // namespace xenolith::blkback
