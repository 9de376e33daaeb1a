#include "toolstack/daemon/args.hpp"

#include "toolstack/api/protocol.hpp"

namespace xenolith::daemon {

using nlohmann::json;

std::string string_arg(const json& args, const char* key) {
    auto it = args.find(key);
    if (it == args.end() || !it->is_string())
        throw api::ApiError("EINVAL", std::string("argument '") + key + "' must be a string");
    return it->get<std::string>();
}

uint64_t number_arg(const json& args, const char* key, uint64_t max) {
    auto it = args.find(key);
    if (it == args.end() || !it->is_number_unsigned() || it->get<uint64_t>() > max)
        throw api::ApiError("EINVAL", std::string("argument '") + key + "' must be a number from 0 to " +
                                          std::to_string(max));
    return it->get<uint64_t>();
}

bool flag_arg(const json& args, const char* key) {
    auto it = args.find(key);
    if (it == args.end()) return false;
    if (!it->is_boolean()) throw api::ApiError("EINVAL", std::string("argument '") + key + "' must be true or false");
    return it->get<bool>();
}

std::optional<std::string> optional_string(const json& args, const char* key) {
    auto it = args.find(key);
    if (it == args.end() || it->is_null()) return std::nullopt;
    return string_arg(args, key);
}

std::optional<uint64_t> optional_number(const json& args, const char* key, uint64_t max) {
    auto it = args.find(key);
    if (it == args.end() || it->is_null()) return std::nullopt;
    return number_arg(args, key, max);
}

}  // namespace xenolith::daemon
