#include "backends/xenstored/path.hpp"

#include "backends/xenstored/wire.hpp"

namespace xenolith::xenstored {

std::string domain_path(uint32_t domid) {
    return "/local/domain/" + std::to_string(domid);
}

std::string canonicalize(std::string_view path, uint32_t domid) {
    if (!is_relative(path)) return std::string(path);
    return domain_path(domid) + "/" + std::string(path);
}

namespace {

bool valid_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '/' || c == '_' || c == '@';
}

// Length of a leading "/local/domain/<digits>/", or 0.
size_t local_prefix_length(std::string_view path) {
    constexpr std::string_view kLocal = "/local/domain/";
    if (path.substr(0, kLocal.size()) != kLocal) return 0;
    size_t i = kLocal.size();
    size_t digits = 0;
    while (i < path.size() && path[i] >= '0' && path[i] <= '9' && digits < 5) {
        ++i;
        ++digits;
    }
    if (digits == 0 || i >= path.size() || path[i] != '/') return 0;
    return i + 1;
}

}  // namespace

bool is_valid_node_path(std::string_view path, size_t max_local_len) {
    if (path.empty() || path[0] != '/') return false;
    if (path.size() > 1 && path.back() == '/') return false;
    if (path.find("//") != std::string_view::npos) return false;
    if (path.size() > XENSTORE_ABS_PATH_MAX) return false;
    for (char c : path) {
        if (!valid_char(c)) return false;
    }
    return path.size() - local_prefix_length(path) <= max_local_len;
}

std::string parent_of(std::string_view path) {
    size_t slash = path.rfind('/');
    if (slash == 0 || slash == std::string_view::npos) return "/";
    return std::string(path.substr(0, slash));
}

std::string_view basename_of(std::string_view path) {
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string child_of(std::string_view parent, std::string_view name) {
    std::string out(parent);
    if (out != "/") out += '/';
    out += name;
    return out;
}

bool is_at_or_below(std::string_view path, std::string_view ancestor) {
    if (ancestor == "/") return !path.empty() && path[0] == '/';
    if (path.substr(0, ancestor.size()) != ancestor) return false;
    return path.size() == ancestor.size() || path[ancestor.size()] == '/';
}

}  // namespace xenolith::xenstored
