// HTTP/1.x request heads (RFC 9112): the request line and the header fields httpd acts on.
// Pure parsing, no lwIP: the connection code hands it one complete head.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace httpd {

// A piece of the head buffer (not NUL-terminated).
struct Slice {
    const char* data = nullptr;
    size_t size = 0;
    bool equals(const char* text) const;
};

struct Request {
    Slice method;                 // a token ("GET")
    Slice target;                 // origin-form: starts with '/'
    unsigned minor = 1;           // HTTP/1.<minor>
    bool keep_alive = true;       // after this exchange (version default, then Connection)
    uint64_t content_length = 0;  // body bytes that follow the head
};

// The longest head accepted (request line and fields): longer ones get 431.
inline constexpr size_t kMaxHead = 8192;
// The longest request body accepted (and skipped: no method here takes one): longer get 413.
inline constexpr uint64_t kMaxBody = 1024 * 1024;

// Where the head ends in buf: the offset just past its "\r\n\r\n", or 0 when not there yet.
size_t head_length(const char* buf, size_t size);

// Parses the head buf[0..size) (ending with "\r\n\r\n"): 0, or the status to answer with
// (400 malformed, 413 body too long, 501 Transfer-Encoding, 505 not HTTP/1.x).
int parse(const char* buf, size_t size, Request* out);

}  // namespace httpd
