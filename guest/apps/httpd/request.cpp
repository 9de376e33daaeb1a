#include "httpd/request.hpp"

#include <pumice/string.hpp>

namespace httpd {
namespace {

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_nocase(Slice s, const char* text) {
    size_t n = strlen(text);
    if (s.size != n) return false;
    for (size_t i = 0; i < n; ++i) {
        if (lower(s.data[i]) != lower(text[i])) return false;
    }
    return true;
}

// RFC 9110 tchar.
bool is_tchar(char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Consumes a token at p; its length (0 when none).
size_t token(const char* p, const char* end) {
    size_t n = 0;
    while (p + n < end && is_tchar(p[n])) ++n;
    return n;
}

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

// The comma-separated Connection options: "close" and "keep-alive" change keep_alive.
void connection_options(Slice value, Request* out) {
    const char* p = value.data;
    const char* end = p + value.size;
    while (p < end) {
        while (p < end && (is_space(*p) || *p == ',')) ++p;
        size_t n = token(p, end);
        if (n == 0) {
            ++p;
            continue;
        }
        Slice option{p, n};
        if (equals_nocase(option, "close")) out->keep_alive = false;
        if (equals_nocase(option, "keep-alive") && out->minor == 0) out->keep_alive = true;
        p += n;
    }
}

// Content-Length: digits only; false when malformed.
bool parse_length(Slice value, uint64_t* out) {
    if (value.size == 0 || value.size > 19) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < value.size; ++i) {
        char c = value.data[i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    *out = v;
    return true;
}

// "METHOD SP target SP HTTP/1.x"; returns 0 or a status.
int request_line(const char* p, const char* end, Request* out) {
    size_t n = token(p, end);
    if (n == 0 || n > 16 || p + n >= end || p[n] != ' ') return 400;
    out->method = {p, n};
    p += n + 1;
    const char* target = p;
    while (p<end&& * p> ' ' && *p < 0x7f) ++p;
    if (p == target || *target != '/' || p >= end || *p != ' ') return 400;
    out->target = {target, static_cast<size_t>(p - target)};
    ++p;
    if (end - p != 8 || strncmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
        p[7] < '0' || p[7] > '9')
        return 400;
    if (p[5] != '1') return 505;
    out->minor = static_cast<unsigned>(p[7] - '0');
    out->keep_alive = out->minor >= 1;
    return 0;
}

}  // namespace

bool Slice::equals(const char* text) const {
    return strlen(text) == size && memcmp(data, text, size) == 0;
}

size_t head_length(const char* buf, size_t size) {
    for (size_t i = 3; i < size; ++i) {
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return i + 1;
    }
    return 0;
}

int parse(const char* buf, size_t size, Request* out) {
    *out = Request{};
    const char* end = buf + size;
    const char* eol = static_cast<const char*>(memchr(buf, '\r', size));
    if (!eol || eol + 1 >= end || eol[1] != '\n') return 400;
    if (int status = request_line(buf, eol, out)) return status;
    bool have_length = false;
    unsigned hosts = 0;
    for (const char* p = eol + 2; p < end;) {
        eol = static_cast<const char*>(memchr(p, '\r', static_cast<size_t>(end - p)));
        if (!eol || eol + 1 >= end || eol[1] != '\n') return 400;
        if (eol == p) break;  // the empty line that ends the head
        // name ":" OWS value OWS; no whitespace before the colon, no obsolete line folding.
        size_t n = token(p, eol);
        if (n == 0 || p[n] != ':') return 400;
        Slice name{p, n};
        const char* v = p + n + 1;
        const char* v_end = eol;
        while (v < v_end && is_space(*v)) ++v;
        while (v_end > v && is_space(v_end[-1])) --v_end;
        for (const char* c = v; c < v_end; ++c) {
            if ((*c < ' ' && *c != '\t') || *c == 0x7f) return 400;
        }
        Slice value{v, static_cast<size_t>(v_end - v)};
        if (equals_nocase(name, "connection")) {
            connection_options(value, out);
        } else if (equals_nocase(name, "content-length")) {
            uint64_t length;
            if (!parse_length(value, &length)) return 400;
            if (have_length && length != out->content_length) return 400;
            have_length = true;
            out->content_length = length;
        } else if (equals_nocase(name, "transfer-encoding")) {
            return 501;
        } else if (equals_nocase(name, "host")) {
            ++hosts;
        }
        p = eol + 2;
    }
    // RFC 9112 3.2: an HTTP/1.1 request has exactly one Host field.
    if (out->minor >= 1 && hosts != 1) return 400;
    if (out->content_length > kMaxBody) return 413;
    return 0;
}

}  // namespace httpd
