// TCP/UDP checksums of Ethernet frames. A frontend that sends NETTXF_csum_blank leaves the
// transport checksum for the backend to fill in (the checksum offload a NIC would do); the
// host sides expect complete frames, so netback computes it before handing the frame on.
#pragma once

#include <cstdint>
#include <span>

namespace xenolith::netback {

inline constexpr size_t kEthHeaderSize = 14;

// Computes and stores the TCP or UDP checksum of an IPv4 or IPv6 frame (one optional
// 802.1Q tag; IPv6 without extension headers). Whatever the checksum field held (the
// pseudo-header sum Linux leaves there, or garbage) is ignored. False, with the frame
// untouched, when the frame is not an unfragmented TCP/UDP packet that lies wholly
// inside it.
bool complete_l4_checksum(std::span<uint8_t> frame);

// True when the frame is TCP/UDP over IPv4/IPv6 and its transport checksum is correct
// (for tests and diagnostics).
bool l4_checksum_ok(std::span<const uint8_t> frame);

}  // namespace xenolith::netback
