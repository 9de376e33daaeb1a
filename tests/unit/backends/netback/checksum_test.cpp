// Checksum completion against a known packet and the frames it must refuse.
#include "backends/netback/checksum.hpp"

#include <gtest/gtest.h>

#include "tests/unit/backends/netback/frames.hpp"

namespace xenolith::netback {
namespace {

using namespace testing;

TEST(ChecksumTest, KnownUdpPacket) {
    // 10.0.2.15:1234 -> 10.0.2.2:53, payload "abc": worked out by hand (RFC 768).
    static const uint8_t mac[6] = {1, 2, 3, 4, 5, 6};
    Frame f = udp_frame(1234, 53, {'a', 'b', 'c'}, mac, kIpGuest, kIpGateway);
    ASSERT_TRUE(complete_l4_checksum(f));
    // pseudo 0a00+020f+0a00+0202+0011+000b + udp 04d2+0035+000b+6162+6300 = 0xe1a1,
    // complemented 0x1e5e.
    EXPECT_EQ(get16(f, 40), 0x1e5e);
    EXPECT_TRUE(l4_checksum_ok(f));
    EXPECT_EQ(l4_residue(f), 0);
    f[43] ^= 1;
    EXPECT_FALSE(l4_checksum_ok(f));
}

TEST(ChecksumTest, RefusesWhatItCannotChecksum) {
    Frame tcp = tcp_frame(1, 2, 0x02, {});
    Frame truncated(tcp.begin(), tcp.end() - 1);
    EXPECT_FALSE(complete_l4_checksum(truncated));  // IP length past the frame
    Frame fragment = tcp;
    fragment[20] = 0x20;  // more fragments
    EXPECT_FALSE(complete_l4_checksum(fragment));
    Frame icmp = tcp;
    icmp[23] = 1;
    EXPECT_FALSE(complete_l4_checksum(icmp));
    Frame tiny(13);
    EXPECT_FALSE(complete_l4_checksum(tiny));
    EXPECT_TRUE(complete_l4_checksum(tcp));
    EXPECT_EQ(l4_residue(tcp), 0);
}

}  // namespace
}  // namespace xenolith::netback
