// Reads a domain stream (stream_format.hpp) as hostile input: the image header is checked
// when the reader is made, each record's length against kMaxRecordBytes before anything is
// allocated, its padding for zeros, its type against what this version knows. Every failure
// is one StreamError that says what was wrong and at which byte.
#pragma once

#include <cstdint>
#include <vector>

#include "state/byte_stream.hpp"
#include "state/stream_format.hpp"

namespace xenolith::state {

struct Record {
    RecordType type = RecordType::End;
    std::vector<uint8_t> body;
    uint64_t offset = 0;  // of the record's header in the stream
};

class StreamReader {
  public:
    // Reads and checks the image header.
    explicit StreamReader(ByteSource& source);

    // The next record this version knows (optional unknown ones are skipped). After END,
    // a further call throws.
    Record next();
    // next(), which must be of `type`.
    Record expect(RecordType type, const char* what);

    // Checks a DomainHeader record's body: a known guest kind, 4 KiB pages, a page count
    // that is not zero and at most `max_pages`.
    static DomainHeader domain_header(const Record& record, uint64_t max_pages);

  private:
    ByteSource& source_;
    bool ended_ = false;
};

}  // namespace xenolith::state
