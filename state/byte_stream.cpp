#include "state/byte_stream.hpp"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace xenolith::state {

void ByteSource::read_exact(std::span<uint8_t> out, const char* what) {
    size_t done = 0;
    while (done < out.size()) {
        const size_t n = read_some(out.subspan(done));
        if (n == 0)
            throw StreamError(offset_ + done, std::string("the stream ends inside ") + what + " (" +
                                                  std::to_string(out.size() - done) +
                                                  " more bytes expected)");
        done += n;
    }
    offset_ += done;
}

void FdSink::write(std::span<const uint8_t> bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SystemError("writing the domain stream", errno);
        bytes = bytes.subspan(static_cast<size_t>(n));
    }
}

size_t FdSource::read_some(std::span<uint8_t> out) {
    return read_stream_fd(fd_, out);
}

size_t read_stream_fd(int fd, std::span<uint8_t> out) {
    for (;;) {
        const ssize_t n = ::read(fd, out.data(), out.size());
        if (n >= 0) return static_cast<size_t>(n);
        if (errno != EINTR) throw SystemError("reading the domain stream", errno);
    }
}

size_t MemorySource::read_some(std::span<uint8_t> out) {
    const size_t n = std::min(out.size(), bytes_.size() - at_);
    std::memcpy(out.data(), bytes_.data() + at_, n);
    at_ += n;
    return n;
}

}  // namespace xenolith::state
