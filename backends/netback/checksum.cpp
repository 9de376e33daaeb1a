#include "backends/netback/checksum.hpp"

#include <optional>

namespace xenolith::netback {

namespace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86DD;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr size_t kIpv6HeaderSize = 40;

uint16_t be16(std::span<const uint8_t> b, size_t at) {
    return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

// One's-complement sum of big-endian 16-bit words (an odd last byte padded with zero).
uint64_t sum_words(std::span<const uint8_t> bytes) {
    uint64_t sum = 0;
    size_t i = 0;
    for (; i + 1 < bytes.size(); i += 2) sum += be16(bytes, i);
    if (i < bytes.size()) sum += static_cast<uint64_t>(bytes[i]) << 8;
    return sum;
}

uint16_t fold(uint64_t sum) {
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

// Where a frame's transport segment is and what its pseudo-header adds.
struct Segment {
    size_t offset = 0;  // of the TCP/UDP header in the frame
    size_t length = 0;  // header and payload
    uint8_t protocol = 0;
    uint64_t pseudo_sum = 0;
};

std::optional<Segment> find_segment(std::span<const uint8_t> frame) {
    if (frame.size() < kEthHeaderSize) return std::nullopt;
    size_t l3 = kEthHeaderSize;
    uint16_t type = be16(frame, 12);
    if (type == kEtherTypeVlan) {
        if (frame.size() < l3 + 4) return std::nullopt;
        type = be16(frame, 16);
        l3 += 4;
    }
    Segment s;
    if (type == kEtherTypeIpv4) {
        if (frame.size() < l3 + 20 || (frame[l3] >> 4) != 4) return std::nullopt;
        size_t ihl = (frame[l3] & 0x0F) * size_t{4};
        size_t total = be16(frame, l3 + 2);
        // A fragment's checksum covers the reassembled datagram: not ours to compute.
        if ((be16(frame, l3 + 6) & 0x3FFF) != 0) return std::nullopt;
        if (ihl < 20 || total < ihl || l3 + total > frame.size()) return std::nullopt;
        s.offset = l3 + ihl;
        s.length = total - ihl;
        s.protocol = frame[l3 + 9];
        s.pseudo_sum = sum_words(frame.subspan(l3 + 12, 8)) + s.protocol + s.length;
    } else if (type == kEtherTypeIpv6) {
        if (frame.size() < l3 + kIpv6HeaderSize || (frame[l3] >> 4) != 6) return std::nullopt;
        size_t payload = be16(frame, l3 + 4);
        if (l3 + kIpv6HeaderSize + payload > frame.size()) return std::nullopt;
        s.offset = l3 + kIpv6HeaderSize;
        s.length = payload;
        s.protocol = frame[l3 + 6];
        s.pseudo_sum = sum_words(frame.subspan(l3 + 8, 32)) + s.protocol + s.length;
    } else {
        return std::nullopt;
    }
    size_t min_header = s.protocol == kProtoTcp ? 20 : s.protocol == kProtoUdp ? 8 : 0;
    if (min_header == 0 || s.length < min_header) return std::nullopt;
    return s;
}

size_t checksum_field(const Segment& s) {
    return s.offset + (s.protocol == kProtoTcp ? 16 : 6);
}

}  // namespace

bool complete_l4_checksum(std::span<uint8_t> frame) {
    auto s = find_segment(frame);
    if (!s) return false;
    size_t field = checksum_field(*s);
    frame[field] = frame[field + 1] = 0;
    uint16_t sum = static_cast<uint16_t>(
        ~fold(s->pseudo_sum + sum_words(frame.subspan(s->offset, s->length))));
    // UDP sends 0 as "no checksum"; a computed 0 goes out as its other form, 0xFFFF.
    if (sum == 0 && s->protocol == kProtoUdp) sum = 0xFFFF;
    frame[field] = static_cast<uint8_t>(sum >> 8);
    frame[field + 1] = static_cast<uint8_t>(sum);
    return true;
}

bool l4_checksum_ok(std::span<const uint8_t> frame) {
    auto s = find_segment(frame);
    if (!s) return false;
    return fold(s->pseudo_sum + sum_words(frame.subspan(s->offset, s->length))) == 0xFFFF;
}

}  // namespace xenolith::netback
