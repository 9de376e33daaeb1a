#include "state/stream_writer.hpp"

#include <bit>
#include <cstring>

#include "base/error.hpp"

namespace xenolith::state {

namespace {

template <class T>
void put_le(uint8_t* at, T value) {
    static_assert(std::endian::native == std::endian::little);
    std::memcpy(at, &value, sizeof value);
}

}  // namespace

StreamWriter::StreamWriter(ByteSink& sink) : sink_(sink) {
    uint8_t header[kImageHeaderBytes] = {};
    put_le(header, kStreamMarker);
    std::memcpy(header + 8, kStreamId, sizeof kStreamId);
    put_le(header + 16, kStreamVersion);
    put_le(header + 20, uint32_t{0});  // options: little-endian
    put(header);
}

void StreamWriter::record(uint32_t type, std::span<const uint8_t> body) {
    if (ended_) throw Error("domain stream: a record after END");
    if (body.size() > kMaxRecordBytes)
        throw Error("domain stream: a record of " + std::to_string(body.size()) +
                    " bytes is over the limit of " + std::to_string(kMaxRecordBytes));
    uint8_t header[kRecordHeaderBytes];
    put_le(header, type);
    put_le(header + 4, static_cast<uint32_t>(body.size()));
    put(header);
    put(body);
    static constexpr uint8_t kZeros[kRecordAlign] = {};
    const size_t pad = (kRecordAlign - body.size() % kRecordAlign) % kRecordAlign;
    put({kZeros, pad});
}

void StreamWriter::domain_header(const DomainHeader& h) {
    uint8_t body[kDomainHeaderBytes];
    put_le(body, h.guest_kind);
    put_le(body + 4, h.page_shift);
    put_le(body + 8, h.pages);
    record(RecordType::DomainHeader, body);
}

void StreamWriter::end() {
    record(RecordType::End, {});
    ended_ = true;
}

void StreamWriter::put(std::span<const uint8_t> bytes) {
    sink_.write(bytes);
    written_ += bytes.size();
}

}  // namespace xenolith::state
