// The xenstore wire format: message headers (struct xsd_sockmsg), payload strings and
// Xen's error names. Every type, error name and limit comes from Debian's libxen-dev
// (<xen/io/xs_wire.h>, reached through <xenstore_lib.h>, which also supplies XS_PERM_*).
#pragma once

#include <stdint.h>
// xs_wire.h defines xsd_errors only when errno names are visible: errno first.
#include <errno.h>
#include <xenstore_lib.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xenolith::xenstored {

inline constexpr size_t kHeaderSize = sizeof(xsd_sockmsg);
// The largest message either side may send: a header plus XENSTORE_PAYLOAD_MAX bytes.
inline constexpr size_t kMaxMessageSize = kHeaderSize + XENSTORE_PAYLOAD_MAX;

// Xen's name for an errno value ("EACCES"); "EINVAL" for any value xs_wire.h does not
// list, as Xen's xenstored answers an untranslatable error.
std::string_view error_name(int err);
// The errno value for one of xs_wire.h's names, if it is one.
std::optional<int> error_from_name(std::string_view name);

// "READ", "WATCH_EVENT", ...; "UNKNOWN" outside enum xsd_sockmsg_type.
std::string_view type_name(uint32_t type);

// One whole message: header (native byte order, as the ring and socket carry it) and payload.
std::string encode_message(uint32_t type, uint32_t req_id, uint32_t tx_id,
                           std::string_view payload);

// The NUL-terminated strings at the start of a payload, in order. Bytes after the last NUL
// are not a string and are not returned (Xen's get_strings()).
std::vector<std::string_view> split_strings(std::string_view payload);

// The payload is exactly one string followed by its NUL (Xen's onearg()).
std::optional<std::string_view> single_string(std::string_view payload);

// Strings joined with a NUL after each: the reply form of DIRECTORY, GET_PERMS, ...
std::string join_strings(const std::vector<std::string>& strings);

// A decimal number in [0, max] with no sign, spaces or trailing bytes.
std::optional<uint64_t> parse_decimal(std::string_view text, uint64_t max);

}  // namespace xenolith::xenstored
