// Writes a domain stream (stream_format.hpp): the image header when made, then records.
#pragma once

#include <cstdint>
#include <span>

#include "state/byte_stream.hpp"
#include "state/stream_format.hpp"

namespace xenolith::state {

class StreamWriter {
  public:
    // Writes the image header.
    explicit StreamWriter(ByteSink& sink);

    // One record: header, body, zero padding to 8 bytes. Throws Error for a body over
    // kMaxRecordBytes (a writer bug: the reader would refuse it) or after end().
    void record(uint32_t type, std::span<const uint8_t> body);
    void record(RecordType type, std::span<const uint8_t> body) {
        record(static_cast<uint32_t>(type), body);
    }
    void domain_header(const DomainHeader& header);
    // The END record; nothing may follow.
    void end();
    uint64_t bytes_written() const { return written_; }

  private:
    void put(std::span<const uint8_t> bytes);

    ByteSink& sink_;
    uint64_t written_ = 0;
    bool ended_ = false;
};

}  // namespace xenolith::state
