#include "state/stream_reader.hpp"

#include <cstring>
#include <string>

namespace xenolith::state {

namespace {

template <class T>
T get_le(const uint8_t* at) {
    T value;
    std::memcpy(&value, at, sizeof value);
    return value;
}

bool known(uint32_t type) {
    switch (static_cast<RecordType>(type)) {
        case RecordType::End:
        case RecordType::DomainHeader:
        case RecordType::PageData:
        case RecordType::DomainInfo:
        case RecordType::Vcpu:
        case RecordType::EventChannels:
        case RecordType::GrantFrames:
        case RecordType::Console:
        case RecordType::XlConfig:
        case RecordType::Xenstore:
        case RecordType::GuestTime:
            return true;
    }
    return false;
}

}  // namespace

StreamReader::StreamReader(ByteSource& source) : source_(source) {
    uint8_t h[kImageHeaderBytes];
    source_.read_exact(h, "the image header");
    if (get_le<uint64_t>(h) != kStreamMarker || std::memcmp(h + 8, kStreamId, sizeof kStreamId))
        throw StreamError(0, "not a Xenolith domain stream (no XENOLITH image header)");
    const uint32_t version = get_le<uint32_t>(h + 16);
    if (version != kStreamVersion)
        throw StreamError(16, "stream version " + std::to_string(version) +
                                  "; this Xenolith reads version " +
                                  std::to_string(kStreamVersion));
    const uint32_t options = get_le<uint32_t>(h + 20);
    if (options != 0)
        throw StreamError(20, std::string("unknown stream options ") + std::to_string(options) +
                                  ((options & kOptionBigEndian) ? " (big-endian)" : ""));
}

Record StreamReader::next() {
    for (;;) {
        const uint64_t at = source_.offset();
        if (ended_) throw StreamError(at, "a record was asked for after END");
        uint8_t h[kRecordHeaderBytes];
        source_.read_exact(h, "a record header");
        const uint32_t type = get_le<uint32_t>(h);
        const uint32_t length = get_le<uint32_t>(h + 4);
        if (length > kMaxRecordBytes)
            throw StreamError(at, "a record of " + std::to_string(length) +
                                      " bytes (the limit is " + std::to_string(kMaxRecordBytes) +
                                      ")");
        Record r{static_cast<RecordType>(type), std::vector<uint8_t>(length), at};
        source_.read_exact(r.body, "a record body");
        uint8_t pad[kRecordAlign] = {};
        const size_t pad_bytes = (kRecordAlign - length % kRecordAlign) % kRecordAlign;
        source_.read_exact({pad, pad_bytes}, "a record's padding");
        for (size_t i = 0; i < pad_bytes; ++i)
            if (pad[i] != 0) throw StreamError(at, "a record's padding is not zero");
        if (!known(type)) {
            if (type & kRecordOptional) continue;
            throw StreamError(
                at, "record type " + std::to_string(type) + " is not one this version knows");
        }
        if (r.type == RecordType::End) {
            if (length != 0) throw StreamError(at, "the END record has a body");
            ended_ = true;
        }
        return r;
    }
}

Record StreamReader::expect(RecordType type, const char* what) {
    Record r = next();
    if (r.type != type)
        throw StreamError(r.offset, std::string("expected ") + what + ", found record type " +
                                        std::to_string(static_cast<uint32_t>(r.type)));
    return r;
}

DomainHeader StreamReader::domain_header(const Record& r, uint64_t max_pages) {
    if (r.body.size() != kDomainHeaderBytes)
        throw StreamError(r.offset, "the domain header has " + std::to_string(r.body.size()) +
                                        " bytes, not " + std::to_string(kDomainHeaderBytes));
    DomainHeader h{get_le<uint32_t>(r.body.data()), get_le<uint32_t>(r.body.data() + 4),
                   get_le<uint64_t>(r.body.data() + 8)};
    if (h.guest_kind != kGuestKindPv && h.guest_kind != kGuestKindPvh)
        throw StreamError(r.offset, "unknown guest kind " + std::to_string(h.guest_kind));
    if (h.page_shift != 12)
        throw StreamError(r.offset, "pages of 2^" + std::to_string(h.page_shift) +
                                        " bytes (only 4 KiB pages are known)");
    if (h.pages == 0 || h.pages > max_pages)
        throw StreamError(r.offset, "a domain of " + std::to_string(h.pages) +
                                        " pages (this host takes 1 to " +
                                        std::to_string(max_pages) + ")");
    return h;
}

}  // namespace xenolith::state
