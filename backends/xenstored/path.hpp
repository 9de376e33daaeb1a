// Xenstore paths: Xen's validity rules and limits, relative paths, parents and children.
//
// A path is absolute ("/local/domain/3/name"), relative to the caller's domain path
// ("name" from domain 3 means "/local/domain/3/name") or special ("@releaseDomain",
// only meaningful to watches and permissions).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace xenolith::xenstored {

inline constexpr std::string_view kIntroduceDomain = "@introduceDomain";
inline constexpr std::string_view kReleaseDomain = "@releaseDomain";

// "/local/domain/<domid>": the base of a domain's relative paths.
std::string domain_path(uint32_t domid);

// The absolute form of a client path: relative paths are joined to domain_path(domid);
// absolute and special paths are returned unchanged. No validation.
std::string canonicalize(std::string_view path, uint32_t domid);

inline bool is_special(std::string_view path) {
    return !path.empty() && path[0] == '@';
}
inline bool is_relative(std::string_view path) {
    return !path.empty() && path[0] != '/' && !is_special(path);
}

// Xen's rules for an absolute node path: starts with '/', no trailing '/' (except "/"),
// no "//", only [A-Za-z0-9-/_@], at most XENSTORE_ABS_PATH_MAX bytes, and at most
// `max_local_len` bytes once any "/local/domain/<domid>/" prefix is taken off (the
// per-domain path-length quota; pass SIZE_MAX to skip it).
bool is_valid_node_path(std::string_view path, size_t max_local_len);

// Parent of an absolute path ("/" for "/a"); undefined for "/" itself.
std::string parent_of(std::string_view path);
// Last component ("c" for "/a/b/c").
std::string_view basename_of(std::string_view path);
// parent + "/" + name, without doubling the root's slash.
std::string child_of(std::string_view parent, std::string_view name);
// `path` equals `ancestor` or lies below it ("/" is an ancestor of every absolute path).
bool is_at_or_below(std::string_view path, std::string_view ancestor);

}  // namespace xenolith::xenstored
