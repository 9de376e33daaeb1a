// Live migration's flow control over the stream's own connection (docs/domain-stream.md,
// "Live migration"): the receiver tells the sender how much of the stream it has applied,
// in lines "APPLIED <bytes>", and the sender waits after each pre-copy round until the
// receiver has caught up. The stream compresses well, so without this the sender runs far
// ahead and the guest's pause would also wait for the receiver's backlog.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "state/byte_stream.hpp"

namespace xenolith::state {

inline constexpr std::string_view kAppliedReport = "APPLIED ";
inline constexpr uint64_t kAppliedEvery = 256 * 1024;

// Whether a line read from the receiver is one of its progress reports (which a sender
// reading the handshake skips).
inline bool is_applied_report(std::string_view line) {
    return line.substr(0, kAppliedReport.size()) == kAppliedReport;
}

// The receiver's source: a connected socket that reports, every kAppliedEvery bytes, how
// far the stream's reader has got. Reports are advice: one that does not fit in the socket
// now is dropped.
class ReportingSource final : public ByteSource {
  public:
    explicit ReportingSource(int fd) : fd_(fd) {}

  protected:
    size_t read_some(std::span<uint8_t> out) override;

  private:
    int fd_;
    uint64_t reported_ = 0;
};

// The sender's side: how far the receiver has got, from its reports.
class ReceiverProgress {
  public:
    explicit ReceiverProgress(int fd) : fd_(fd) {}
    // Waits until the receiver has applied all but two reports' worth of the `sent` bytes,
    // or says nothing for `quiet` (a receiver that does not report, or has gone: the
    // stream's own errors tell which). Reads only whole lines.
    void wait_for(uint64_t sent, std::chrono::milliseconds quiet = std::chrono::seconds(5));
    uint64_t applied() const { return applied_; }

  private:
    int fd_;
    uint64_t applied_ = 0;
};

// One line from `fd` without its newline, read byte by byte (what follows is not ours to
// read); empty when the peer closes, sends over 4096 bytes, or `deadline` passes.
std::string read_line_until(int fd, std::chrono::steady_clock::time_point deadline);

}  // namespace xenolith::state
