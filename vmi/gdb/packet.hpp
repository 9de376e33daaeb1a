// GDB remote protocol framing. A packet is `$payload#cc`, cc the payload's byte sum modulo
// 256 in two hex digits; the receiver answers `+` (good) or `-` (send again) until both
// sides switch acknowledgements off (QStartNoAckMode). A lone 0x03 byte outside a packet is
// Ctrl-C. Binary data (the X packet, qXfer replies) escapes `#`, `$`, `}` and `*` as `}`
// followed by the byte XOR 0x20.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace xenolith::vmi::gdb {

// The longest payload accepted (and advertised as PacketSize): longer ones are refused
// without being stored.
inline constexpr size_t kMaxPayload = 0x10000;

struct InputEvent {
    enum class Kind {
        Packet,     // a well-formed packet; `payload` holds it, still escaped
        BadPacket,  // a checksum that does not match, or a payload over kMaxPayload
        Interrupt,  // Ctrl-C
        Ack,        // '+'
        Nak,        // '-': the peer wants our last packet again
    };
    Kind kind;
    std::string payload;
};

// Splits a byte stream into InputEvents. Bytes are fed in as they arrive and events taken
// out one at a time, so nothing but the packet being assembled (at most kMaxPayload) and
// the bytes not yet examined is ever held.
class PacketReader {
  public:
    void feed(std::span<const uint8_t> bytes);
    // The next complete event, or nullopt once every fed byte has been examined.
    std::optional<InputEvent> next();

  private:
    enum class State { Idle, Body, ChecksumHigh, ChecksumLow };
    std::optional<InputEvent> step(uint8_t byte);

    std::vector<uint8_t> pending_;
    size_t pending_pos_ = 0;
    State state_ = State::Idle;
    std::string body_;
    bool overlong_ = false;
    uint8_t sum_ = 0;
    int checksum_high_ = 0;
};

// `$payload#cc`. The payload must already be escaped where it carries binary data.
std::string frame_packet(std::string_view payload);

// Escapes binary data for a packet payload.
void append_escaped(std::string& out, std::span<const uint8_t> data);

// Undoes append_escaped; nullopt when the data ends in the middle of an escape.
std::optional<std::vector<uint8_t>> unescape(std::string_view data);

}  // namespace xenolith::vmi::gdb
