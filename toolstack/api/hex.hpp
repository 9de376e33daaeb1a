// How the control API carries what JSON cannot: 64-bit values as "0x..." strings (a JSON
// number holds 53 bits) and bytes as a string of hex digits (docs/control-api.md,
// "Introspection"). Both ends use these; a parse that fails is nullopt, and each end says
// why in its own terms.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace xenolith::api {

std::string hex_value(uint64_t v);  // "0x1f"
// "0x1f" or "1f"; nullopt for anything else, or more than 64 bits.
std::optional<uint64_t> parse_hex_value(std::string_view s);

std::string hex_bytes(std::span<const uint8_t> bytes);  // "00ff10"
// An even number of hex digits; nullopt otherwise.
std::optional<std::vector<uint8_t>> parse_hex_bytes(std::string_view s);

}  // namespace xenolith::api
