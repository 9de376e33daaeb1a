#include "backends/xenstored/permissions.hpp"

namespace xenolith::xenstored {

namespace {

constexpr unsigned kAll = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;

std::optional<unsigned> access_of(char letter) {
    switch (letter) {
        case 'n':
            return XS_PERM_NONE;
        case 'r':
            return XS_PERM_READ;
        case 'w':
            return XS_PERM_WRITE;
        case 'b':
            return XS_PERM_READ | XS_PERM_WRITE;
        default:
            return std::nullopt;
    }
}

char letter_of(unsigned access) {
    switch (access & (XS_PERM_READ | XS_PERM_WRITE)) {
        case XS_PERM_READ:
            return 'r';
        case XS_PERM_WRITE:
            return 'w';
        case XS_PERM_READ | XS_PERM_WRITE:
            return 'b';
        default:
            return 'n';
    }
}

}  // namespace

std::optional<Permissions> Permissions::parse(const std::vector<std::string_view>& strings) {
    if (strings.empty()) return std::nullopt;
    Permissions out;
    out.entries_.clear();
    for (std::string_view s : strings) {
        if (s.size() < 2) return std::nullopt;
        auto access = access_of(s[0]);
        auto domid = parse_decimal(s.substr(1), 65535);
        if (!access || !domid) return std::nullopt;
        out.entries_.push_back({static_cast<uint32_t>(*domid), *access});
    }
    return out;
}

std::string Permissions::wire() const {
    std::string out;
    for (const auto& e : entries_) {
        out += letter_of(e.access);
        out += std::to_string(e.domid);
        out += '\0';
    }
    return out;
}

std::string Permissions::text() const {
    std::string out;
    for (const auto& e : entries_) {
        if (!out.empty()) out += ',';
        out += letter_of(e.access);
        out += std::to_string(e.domid);
    }
    return out;
}

unsigned Permissions::rights(const Caller& caller) const {
    auto is_caller = [&](uint32_t domid) {
        return domid == caller.domid || (caller.target && domid == *caller.target);
    };
    if (caller.privileged || is_caller(owner())) return kAll;
    for (size_t i = 1; i < entries_.size(); ++i) {
        if (is_caller(entries_[i].domid)) return entries_[i].access;
    }
    return entries_.front().access;
}

}  // namespace xenolith::xenstored
