// Reading a control API request's arguments: each a typed, range-checked value or one
// ApiError(EINVAL) naming the argument. Requests come from any client: nothing is trusted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace xenolith::daemon {

std::string string_arg(const nlohmann::json& args, const char* key);
// An unsigned number no larger than `max`.
uint64_t number_arg(const nlohmann::json& args, const char* key, uint64_t max);
// Absent means false.
bool flag_arg(const nlohmann::json& args, const char* key);
// Absent or null means nullopt.
std::optional<std::string> optional_string(const nlohmann::json& args, const char* key);
std::optional<uint64_t> optional_number(const nlohmann::json& args, const char* key, uint64_t max);

}  // namespace xenolith::daemon
