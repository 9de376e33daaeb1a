#include "state/flow_control.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>

namespace xenolith::state {

namespace {

constexpr size_t kMaxLine = 4096;

}  // namespace

size_t ReportingSource::read_some(std::span<uint8_t> out) {
    // Every record before this read has been applied: the reader applies one before it
    // asks for the next.
    if (offset() >= reported_ + kAppliedEvery) {
        reported_ = offset();
        const std::string line = std::string(kAppliedReport) + std::to_string(reported_) + "\n";
        (void)::send(fd_, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    return read_stream_fd(fd_, out);
}

void ReceiverProgress::wait_for(uint64_t sent, std::chrono::milliseconds quiet) {
    while (applied_ + 2 * kAppliedEvery < sent) {
        const std::string line = read_line_until(fd_, std::chrono::steady_clock::now() + quiet);
        if (line.empty()) return;
        if (!is_applied_report(line)) continue;
        applied_ = std::max<uint64_t>(
            applied_, std::strtoull(line.c_str() + kAppliedReport.size(), nullptr, 10));
    }
}

std::string read_line_until(int fd, std::chrono::steady_clock::time_point deadline) {
    std::string line;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
        char c;
        if (::recv(fd, &c, 1, 0) != 1) return "";
        if (c == '\n') return line;
        if (line.size() == kMaxLine) return "";
        line += c;
    }
}

}  // namespace xenolith::state
