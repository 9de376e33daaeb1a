// The framing layer and hex helpers on their own: checksums, acknowledgements, Ctrl-C,
// binary escapes, and what happens to bytes that are not a valid packet.
#include <gtest/gtest.h>

#include "vmi/gdb/hex.hpp"
#include "vmi/gdb/packet.hpp"

namespace xenolith::vmi::gdb {
namespace {

using Kind = InputEvent::Kind;

std::vector<InputEvent> read_all(PacketReader& reader, std::string_view bytes) {
    reader.feed(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    std::vector<InputEvent> events;
    while (auto e = reader.next()) events.push_back(std::move(*e));
    return events;
}

TEST(GdbPacket, FramesWithTheByteSumAsChecksum) {
    EXPECT_EQ(frame_packet("OK"), "$OK#9a");
    EXPECT_EQ(frame_packet(""), "$#00");
    EXPECT_EQ(frame_packet("m0,4"), "$m0,4#fd");
}

TEST(GdbPacket, ReadsPacketsAcksInterruptsInOrder) {
    PacketReader reader;
    auto events = read_all(reader, "+$OK#9a-\x03junk$m0,4#FD");
    ASSERT_EQ(events.size(), 5u);
    EXPECT_EQ(events[0].kind, Kind::Ack);
    EXPECT_EQ(events[1].kind, Kind::Packet);
    EXPECT_EQ(events[1].payload, "OK");
    EXPECT_EQ(events[2].kind, Kind::Nak);
    EXPECT_EQ(events[3].kind, Kind::Interrupt);
    EXPECT_EQ(events[4].kind, Kind::Packet);  // upper-case checksum digits are fine
    EXPECT_EQ(events[4].payload, "m0,4");
}

TEST(GdbPacket, AssemblesAPacketSplitAcrossReads) {
    PacketReader reader;
    EXPECT_TRUE(read_all(reader, "$m0").empty());
    EXPECT_TRUE(read_all(reader, ",4#f").empty());
    auto events = read_all(reader, "d");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].payload, "m0,4");
}

TEST(GdbPacket, ACtrlCInsideAPacketIsPayload) {
    PacketReader reader;
    std::string payload = "X0,1:\x03";
    auto events = read_all(reader, frame_packet(payload));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, Kind::Packet);
    EXPECT_EQ(events[0].payload, payload);
}

TEST(GdbPacket, RejectsAWrongOrMalformedChecksum) {
    PacketReader reader;
    auto events = read_all(reader, "$OK#9b$OK#zz$OK#9a");
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[0].kind, Kind::BadPacket);
    EXPECT_EQ(events[1].kind, Kind::BadPacket);
    EXPECT_EQ(events[2].kind, Kind::Packet);
}

TEST(GdbPacket, ANewStartAbandonsAHalfPacket) {
    PacketReader reader;
    auto events = read_all(reader, "$m0,$OK#9a");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].payload, "OK");
}

TEST(GdbPacket, RefusesAnOverlongPacketWithoutKeepingIt) {
    PacketReader reader;
    std::string body(kMaxPayload + 100, 'a');
    auto events = read_all(reader, frame_packet(body) + frame_packet("OK"));
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].kind, Kind::BadPacket);
    EXPECT_TRUE(events[0].payload.empty());
    EXPECT_EQ(events[1].payload, "OK");
    // The longest allowed payload still passes.
    events = read_all(reader, frame_packet(std::string(kMaxPayload, 'b')));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, Kind::Packet);
}

TEST(GdbPacket, EscapesExactlyTheFourSpecialBytesAndBack) {
    std::vector<uint8_t> data{'#', '$', '}', '*', 0x00, 0x03, 0xff, 'a'};
    std::string escaped;
    append_escaped(escaped, data);
    EXPECT_EQ(escaped, std::string("}\x03}\x04}]}\x0a", 8) + std::string("\x00\x03\xff"
                                                                         "a",
                                                                         4));
    EXPECT_EQ(unescape(escaped), data);
    EXPECT_EQ(unescape("ab}"), std::nullopt);  // cut in the middle of an escape
}

TEST(GdbHex, ParsesNumbersStrictly) {
    EXPECT_EQ(parse_hex_number("0"), 0u);
    EXPECT_EQ(parse_hex_number("ffffFFFF00000001"), 0xffffffff00000001ull);
    EXPECT_EQ(parse_hex_number(""), std::nullopt);
    EXPECT_EQ(parse_hex_number("10000000000000000"), std::nullopt);  // 17 digits
    EXPECT_EQ(parse_hex_number("12g"), std::nullopt);
    EXPECT_EQ(parse_hex_number("-1"), std::nullopt);
}

TEST(GdbHex, ParsesAndWritesByteStrings) {
    EXPECT_EQ(parse_hex_bytes("00ff7A"), (std::vector<uint8_t>{0x00, 0xff, 0x7a}));
    EXPECT_EQ(parse_hex_bytes("abc"), std::nullopt);
    EXPECT_EQ(parse_hex_bytes("zz"), std::nullopt);
    std::string out;
    append_hex_bytes(out, std::vector<uint8_t>{0x01, 0xab});
    append_hex_number(out, 0);
    append_hex_number(out, 0x1f0);
    EXPECT_EQ(out, "01ab01f0");
}

}  // namespace
}  // namespace xenolith::vmi::gdb
