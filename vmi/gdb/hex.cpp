#include "vmi/gdb/hex.hpp"

namespace xenolith::vmi::gdb {

namespace {

constexpr char kDigits[] = "0123456789abcdef";

int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::optional<uint64_t> parse_hex_number(std::string_view text) {
    if (text.empty() || text.size() > 16) return std::nullopt;
    uint64_t value = 0;
    for (char c : text) {
        int d = digit_value(c);
        if (d < 0) return std::nullopt;
        value = value << 4 | static_cast<uint64_t>(d);
    }
    return value;
}

std::optional<std::vector<uint8_t>> parse_hex_bytes(std::string_view text) {
    if (text.size() % 2 != 0) return std::nullopt;
    std::vector<uint8_t> bytes(text.size() / 2);
    for (size_t i = 0; i < bytes.size(); ++i) {
        int hi = digit_value(text[2 * i]);
        int lo = digit_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return bytes;
}

void append_hex_byte(std::string& out, uint8_t value) {
    out.push_back(kDigits[value >> 4]);
    out.push_back(kDigits[value & 0xf]);
}

void append_hex_bytes(std::string& out, std::span<const uint8_t> bytes) {
    out.reserve(out.size() + 2 * bytes.size());
    for (uint8_t b : bytes) append_hex_byte(out, b);
}

void append_hex_number(std::string& out, uint64_t value) {
    char buf[16];
    size_t n = 0;
    do {
        buf[n++] = kDigits[value & 0xf];
        value >>= 4;
    } while (value != 0);
    while (n > 0) out.push_back(buf[--n]);
}

}  // namespace xenolith::vmi::gdb
