// Hexadecimal as the GDB remote protocol writes it: numbers most significant digit first,
// byte strings two digits a byte. Every parser rejects what is not strictly hex.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace xenolith::vmi::gdb {

// 1 to 16 hex digits; nullopt for anything else (empty, too long, a stray character).
std::optional<uint64_t> parse_hex_number(std::string_view text);

// An even number of hex digits as bytes; nullopt when the text is not that.
std::optional<std::vector<uint8_t>> parse_hex_bytes(std::string_view text);

void append_hex_bytes(std::string& out, std::span<const uint8_t> bytes);
void append_hex_number(std::string& out, uint64_t value);  // no leading zeros
void append_hex_byte(std::string& out, uint8_t value);     // always two digits

}  // namespace xenolith::vmi::gdb
