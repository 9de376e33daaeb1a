// Ethernet/IPv4 frames for the netback tests, built and checked independently of netback's
// own checksum code (RFC 1071 written out again).
#pragma once

#include <cstdint>
#include <vector>

#include "backends/netback/host_link.hpp"

namespace xenolith::netback::testing {

inline constexpr uint8_t kGuestMac[6] = {0x00, 0x16, 0x3e, 0x12, 0x34, 0x56};
inline constexpr uint8_t kIpGuest[4] = {10, 0, 2, 15};
inline constexpr uint8_t kIpGateway[4] = {10, 0, 2, 2};

inline void put16(Frame& f, size_t at, uint16_t v) {
    f[at] = static_cast<uint8_t>(v >> 8);
    f[at + 1] = static_cast<uint8_t>(v);
}
inline uint16_t get16(const Frame& f, size_t at) {
    return static_cast<uint16_t>(f[at] << 8 | f[at + 1]);
}

inline uint16_t rfc1071(const std::vector<uint8_t>& bytes) {
    uint32_t sum = 0;
    for (size_t i = 0; i < bytes.size(); i += 2)
        sum += static_cast<uint32_t>(bytes[i] << 8 | (i + 1 < bytes.size() ? bytes[i + 1] : 0));
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

// Ethernet + IPv4 (header checksum filled in) + `l4` (protocol `proto`) with src/dst.
inline Frame ipv4_frame(const uint8_t dst_mac[6], const uint8_t src_ip[4], const uint8_t dst_ip[4],
                        uint8_t proto, const std::vector<uint8_t>& l4) {
    Frame f(14 + 20);
    for (int i = 0; i < 6; ++i) f[i] = dst_mac[i], f[6 + i] = kGuestMac[i];
    put16(f, 12, 0x0800);
    f[14] = 0x45;
    put16(f, 16, static_cast<uint16_t>(20 + l4.size()));
    f[22] = 64;
    f[23] = proto;
    for (int i = 0; i < 4; ++i) f[26 + i] = src_ip[i], f[30 + i] = dst_ip[i];
    put16(f, 24, rfc1071(std::vector<uint8_t>(f.begin() + 14, f.end())));
    f.insert(f.end(), l4.begin(), l4.end());
    return f;
}

// The transport checksum of an IPv4 frame as a receiver checks it: 0 when right.
inline uint16_t l4_residue(const Frame& f) {
    size_t len = get16(f, 16) - 20u;
    std::vector<uint8_t> pseudo(f.begin() + 26, f.begin() + 34);
    pseudo.push_back(0);
    pseudo.push_back(f[23]);
    pseudo.push_back(static_cast<uint8_t>(len >> 8));
    pseudo.push_back(static_cast<uint8_t>(len));
    pseudo.insert(pseudo.end(), f.begin() + 34, f.begin() + 34 + static_cast<long>(len));
    return rfc1071(pseudo);
}

inline Frame udp_frame(uint16_t sport, uint16_t dport, const std::vector<uint8_t>& payload,
                       const uint8_t dst_mac[6], const uint8_t src_ip[4], const uint8_t dst_ip[4]) {
    std::vector<uint8_t> udp(8);
    udp[0] = static_cast<uint8_t>(sport >> 8), udp[1] = static_cast<uint8_t>(sport);
    udp[2] = static_cast<uint8_t>(dport >> 8), udp[3] = static_cast<uint8_t>(dport);
    udp[4] = static_cast<uint8_t>((8 + payload.size()) >> 8);
    udp[5] = static_cast<uint8_t>(8 + payload.size());
    udp.insert(udp.end(), payload.begin(), payload.end());
    return ipv4_frame(dst_mac, src_ip, dst_ip, 17, udp);
}

inline Frame tcp_frame(uint16_t sport, uint16_t dport, uint8_t tcp_flags,
                       const std::vector<uint8_t>& payload) {
    static const uint8_t gw_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
    std::vector<uint8_t> tcp(20);
    tcp[0] = static_cast<uint8_t>(sport >> 8), tcp[1] = static_cast<uint8_t>(sport);
    tcp[2] = static_cast<uint8_t>(dport >> 8), tcp[3] = static_cast<uint8_t>(dport);
    tcp[7] = 1;      // seq
    tcp[12] = 0x50;  // 5 words
    tcp[13] = tcp_flags;
    tcp[14] = 0xff, tcp[15] = 0xff;  // window
    tcp.insert(tcp.end(), payload.begin(), payload.end());
    return ipv4_frame(gw_mac, kIpGuest, kIpGateway, 6, tcp);
}

}  // namespace xenolith::netback::testing
