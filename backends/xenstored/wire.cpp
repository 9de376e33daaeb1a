#include "backends/xenstored/wire.hpp"

#include <cstring>
#include <iterator>

namespace xenolith::xenstored {

std::string_view error_name(int err) {
    for (const auto& e : xsd_errors) {
        if (e.errnum == err) return e.errstring;
    }
    return xsd_errors[0].errstring;  // EINVAL
}

std::optional<int> error_from_name(std::string_view name) {
    for (const auto& e : xsd_errors) {
        if (name == e.errstring) return e.errnum;
    }
    return std::nullopt;
}

std::string_view type_name(uint32_t type) {
    switch (type) {
        case XS_CONTROL:
            return "CONTROL";
        case XS_DIRECTORY:
            return "DIRECTORY";
        case XS_READ:
            return "READ";
        case XS_GET_PERMS:
            return "GET_PERMS";
        case XS_WATCH:
            return "WATCH";
        case XS_UNWATCH:
            return "UNWATCH";
        case XS_TRANSACTION_START:
            return "TRANSACTION_START";
        case XS_TRANSACTION_END:
            return "TRANSACTION_END";
        case XS_INTRODUCE:
            return "INTRODUCE";
        case XS_RELEASE:
            return "RELEASE";
        case XS_GET_DOMAIN_PATH:
            return "GET_DOMAIN_PATH";
        case XS_WRITE:
            return "WRITE";
        case XS_MKDIR:
            return "MKDIR";
        case XS_RM:
            return "RM";
        case XS_SET_PERMS:
            return "SET_PERMS";
        case XS_WATCH_EVENT:
            return "WATCH_EVENT";
        case XS_ERROR:
            return "ERROR";
        case XS_IS_DOMAIN_INTRODUCED:
            return "IS_DOMAIN_INTRODUCED";
        case XS_RESUME:
            return "RESUME";
        case XS_SET_TARGET:
            return "SET_TARGET";
        case XS_RESET_WATCHES:
            return "RESET_WATCHES";
        case XS_DIRECTORY_PART:
            return "DIRECTORY_PART";
        default:
            return "UNKNOWN";
    }
}

std::string encode_message(uint32_t type, uint32_t req_id, uint32_t tx_id,
                           std::string_view payload) {
    xsd_sockmsg hdr{type, req_id, tx_id, static_cast<uint32_t>(payload.size())};
    std::string out(kHeaderSize + payload.size(), '\0');
    std::memcpy(out.data(), &hdr, kHeaderSize);
    std::memcpy(out.data() + kHeaderSize, payload.data(), payload.size());
    return out;
}

std::vector<std::string_view> split_strings(std::string_view payload) {
    std::vector<std::string_view> out;
    size_t pos = 0;
    while (pos < payload.size()) {
        size_t nul = payload.find('\0', pos);
        if (nul == std::string_view::npos) break;
        out.push_back(payload.substr(pos, nul - pos));
        pos = nul + 1;
    }
    return out;
}

std::optional<std::string_view> single_string(std::string_view payload) {
    if (payload.empty() || payload.find('\0') != payload.size() - 1) return std::nullopt;
    return payload.substr(0, payload.size() - 1);
}

std::string join_strings(const std::vector<std::string>& strings) {
    std::string out;
    for (const auto& s : strings) {
        out += s;
        out += '\0';
    }
    return out;
}

std::optional<uint64_t> parse_decimal(std::string_view text, uint64_t max) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        uint64_t digit = static_cast<uint64_t>(c - '0');
        if (digit > max) return std::nullopt;
        if (value > (max - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
    }
    return value;
}

}  // namespace xenolith::xenstored
