#include "vmi/gdb/packet.hpp"

#include "vmi/gdb/hex.hpp"

namespace xenolith::vmi::gdb {

namespace {

constexpr uint8_t kEscape = '}';
constexpr uint8_t kCtrlC = 0x03;

bool needs_escape(uint8_t b) {
    return b == '#' || b == '$' || b == '}' || b == '*';
}

int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

void PacketReader::feed(std::span<const uint8_t> bytes) {
    if (pending_pos_ == pending_.size()) {
        pending_.clear();
        pending_pos_ = 0;
    }
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
}

std::optional<InputEvent> PacketReader::next() {
    while (pending_pos_ < pending_.size()) {
        if (auto event = step(pending_[pending_pos_++])) return event;
    }
    pending_.clear();
    pending_pos_ = 0;
    return std::nullopt;
}

std::optional<InputEvent> PacketReader::step(uint8_t byte) {
    switch (state_) {
        case State::Idle:
            if (byte == '$') {
                body_.clear();
                overlong_ = false;
                sum_ = 0;
                state_ = State::Body;
            } else if (byte == '+') {
                return InputEvent{InputEvent::Kind::Ack, {}};
            } else if (byte == '-') {
                return InputEvent{InputEvent::Kind::Nak, {}};
            } else if (byte == kCtrlC) {
                return InputEvent{InputEvent::Kind::Interrupt, {}};
            }
            // Anything else between packets is line noise; gdb itself skips it the same way.
            return std::nullopt;
        case State::Body:
            if (byte == '#') {
                state_ = State::ChecksumHigh;
            } else if (byte == '$') {
                // A new start inside a packet: the sender gave up on the old one.
                body_.clear();
                overlong_ = false;
                sum_ = 0;
            } else {
                sum_ = static_cast<uint8_t>(sum_ + byte);
                if (body_.size() < kMaxPayload)
                    body_.push_back(static_cast<char>(byte));
                else
                    overlong_ = true;
            }
            return std::nullopt;
        case State::ChecksumHigh:
            checksum_high_ = hex_digit(byte);
            state_ = State::ChecksumLow;
            return std::nullopt;
        case State::ChecksumLow: {
            state_ = State::Idle;
            int low = hex_digit(byte);
            bool good = checksum_high_ >= 0 && low >= 0 && !overlong_ &&
                        static_cast<uint8_t>(checksum_high_ << 4 | low) == sum_;
            std::string payload = std::move(body_);
            body_.clear();
            if (!good) return InputEvent{InputEvent::Kind::BadPacket, {}};
            return InputEvent{InputEvent::Kind::Packet, std::move(payload)};
        }
    }
    return std::nullopt;
}

std::string frame_packet(std::string_view payload) {
    std::string out;
    out.reserve(payload.size() + 4);
    out.push_back('$');
    uint8_t sum = 0;
    for (char c : payload) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
    out.append(payload);
    out.push_back('#');
    append_hex_byte(out, sum);
    return out;
}

void append_escaped(std::string& out, std::span<const uint8_t> data) {
    for (uint8_t b : data) {
        if (needs_escape(b)) {
            out.push_back(static_cast<char>(kEscape));
            out.push_back(static_cast<char>(b ^ 0x20));
        } else {
            out.push_back(static_cast<char>(b));
        }
    }
}

std::optional<std::vector<uint8_t>> unescape(std::string_view data) {
    std::vector<uint8_t> out;
    out.reserve(data.size());
    for (size_t i = 0; i < data.size(); ++i) {
        uint8_t b = static_cast<uint8_t>(data[i]);
        if (b == kEscape) {
            if (++i == data.size()) return std::nullopt;
            b = static_cast<uint8_t>(data[i]) ^ 0x20;
        }
        out.push_back(b);
    }
    return out;
}

}  // namespace xenolith::vmi::gdb
