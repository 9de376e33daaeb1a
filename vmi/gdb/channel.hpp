// The byte stream the gdb server talks over. Sockets in production (FdChannel); tests and
// the fuzzer may supply their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace xenolith::vmi::gdb {

class Channel {
  public:
    virtual ~Channel() = default;
    // Reads what has arrived into `buf`, waiting up to `timeout_ms` (-1: as long as it takes).
    // Returns the count (0: nothing came in time), or nullopt once the peer has gone.
    virtual std::optional<size_t> receive(std::span<uint8_t> buf, int timeout_ms) = 0;
    // Sends every byte; false once the peer has gone.
    virtual bool send(std::string_view data) = 0;
};

// A connected stream socket (or any fd pair member); the fd stays the caller's.
class FdChannel : public Channel {
  public:
    explicit FdChannel(int fd) : fd_(fd) {}
    std::optional<size_t> receive(std::span<uint8_t> buf, int timeout_ms) override;
    bool send(std::string_view data) override;

  private:
    int fd_;
};

}  // namespace xenolith::vmi::gdb
