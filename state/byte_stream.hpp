// Where a domain stream goes and comes from: a file or a socket (an fd), or memory (tests,
// fuzzing). Sources count bytes, so that every error can say where in the stream it is.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace xenolith::state {

// A stream that cannot be read as one: says what and at which byte offset.
class StreamError : public Error {
  public:
    StreamError(uint64_t offset, const std::string& what)
        : Error("domain stream, byte " + std::to_string(offset) + ": " + what), offset_(offset) {}
    uint64_t offset() const { return offset_; }

  private:
    uint64_t offset_;
};

class ByteSink {
  public:
    virtual ~ByteSink() = default;
    // All of `bytes`, or throws.
    virtual void write(std::span<const uint8_t> bytes) = 0;
};

class ByteSource {
  public:
    virtual ~ByteSource() = default;
    // Fills `out` from the stream; throws StreamError naming `what` when it ends first.
    void read_exact(std::span<uint8_t> out, const char* what);
    uint64_t offset() const { return offset_; }

  protected:
    // Up to out.size() bytes; 0 at the end of the stream. Throws on an I/O error.
    virtual size_t read_some(std::span<uint8_t> out) = 0;

  private:
    uint64_t offset_ = 0;
};

// Up to out.size() bytes of `fd`; 0 at its end. Throws SystemError on an I/O error.
size_t read_stream_fd(int fd, std::span<uint8_t> out);

// Writes to / reads from a descriptor the caller owns (a file or a connected socket).
class FdSink final : public ByteSink {
  public:
    explicit FdSink(int fd) : fd_(fd) {}
    void write(std::span<const uint8_t> bytes) override;

  private:
    int fd_;
};

class FdSource final : public ByteSource {
  public:
    explicit FdSource(int fd) : fd_(fd) {}

  protected:
    size_t read_some(std::span<uint8_t> out) override;

  private:
    int fd_;
};

class MemorySink final : public ByteSink {
  public:
    void write(std::span<const uint8_t> bytes) override {
        bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    }
    const std::vector<uint8_t>& bytes() const { return bytes_; }

  private:
    std::vector<uint8_t> bytes_;
};

class MemorySource final : public ByteSource {
  public:
    explicit MemorySource(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  protected:
    size_t read_some(std::span<uint8_t> out) override;

  private:
    std::span<const uint8_t> bytes_;
    size_t at_ = 0;
};

}  // namespace xenolith::state
