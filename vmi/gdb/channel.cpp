#include "vmi/gdb/channel.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "base/unix_socket.hpp"

namespace xenolith::vmi::gdb {

std::optional<size_t> FdChannel::receive(std::span<uint8_t> buf, int timeout_ms) {
    pollfd pfd{fd_, POLLIN, 0};
    int ready;
    do {
        ready = ::poll(&pfd, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) return std::nullopt;
    if (ready == 0) return 0;
    ssize_t n;
    do {
        n = ::read(fd_, buf.data(), buf.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n <= 0) return std::nullopt;  // end of stream, or a reset connection
    return static_cast<size_t>(n);
}

bool FdChannel::send(std::string_view data) {
    return write_all(fd_, data.data(), data.size());
}

}  // namespace xenolith::vmi::gdb
