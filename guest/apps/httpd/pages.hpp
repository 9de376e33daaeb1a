// httpd's routes: which response a parsed request gets.
//   /           an HTML page naming the domain (text/html)
//   /stats      counters as "key: value" lines (text/plain)
//   /bytes?n=N  N bytes (0 <= N <= kMaxBytes) of a 64-byte repeating pattern, for throughput
// Other paths 404; methods other than GET and HEAD 405.
#pragma once

#include "httpd/request.hpp"
#include "httpd/server.hpp"

namespace httpd {

inline constexpr uint64_t kMaxBytes = 1ull << 30;
// The /bytes body: byte i is kPattern[i % 64].
inline constexpr char kPattern[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-\n";
static_assert(sizeof(kPattern) == 65);
// kPatternBlock + 64 bytes of the pattern from its start, in static memory: a body is
// written from pattern_block() + offset % 64.
inline constexpr size_t kPatternBlock = 8192;
const char* pattern_block();

// A response: its head is formatted by the connection; the body is either `text` (owned,
// malloc'd, freed by the connection) or `pattern_bytes` of kPattern.
struct Response {
    int status = 200;
    const char* content_type = "text/plain";
    char* text = nullptr;
    size_t text_size = 0;
    uint64_t pattern_bytes = 0;
    bool allow_header = false;  // 405: "Allow: GET, HEAD"
    uint64_t body_size() const { return text ? text_size : pattern_bytes; }
};

const char* reason(int status);
// The response to a well-formed request.
Response route(const Request& request, const Server& server);
// An error response (400, 404, 405, 413, 431, 501, 505) with a one-line text body.
Response error(int status);

}  // namespace httpd
