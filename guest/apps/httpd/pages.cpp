#include "httpd/pages.hpp"

#include <pumice/pumice.hpp>

namespace httpd {
namespace {

using pumice::snprintf;
using pumice::time::kNsPerMs;

// A malloc'd text body from a format (at most `cap` bytes).
template <typename... Args>
Response text_response(int status, const char* type, size_t cap, const char* fmt, Args... args) {
    Response r;
    r.status = status;
    r.content_type = type;
    r.text = static_cast<char*>(malloc(cap));
    if (!r.text) {
        r.status = 503;
        return r;  // an empty body: the client still gets a status
    }
    size_t n = snprintf(r.text, cap, fmt, args...);
    r.text_size = n < cap ? n : cap - 1;
    return r;
}

Response home(const Server& server) {
    const Identity& id = server.identity();
    return text_response(200, "text/html; charset=utf-8", 1024,
                         "<!DOCTYPE html>\n<html><head><title>Xenolith httpd</title></head>\n"
                         "<body><h1>Hello from Xenolith</h1>\n"
                         "<p>This page is served by a Xenolith unikernel (Pumice, lwIP, "
                         "netfront) running as domain %s (domid %s).</p>\n"
                         "<p><a href=\"/stats\">/stats</a></p></body></html>\n",
                         id.name, id.domid);
}

Response stats(const Server& server) {
    const Counters& c = server.counters();
    uint64_t uptime_ms = (pumice::time::now_ns() - c.started_ns) / kNsPerMs;
    pumice::netfront::Device::Stats v{};
    if (server.vif()) v = server.vif()->stats();
    auto ull = [](uint64_t x) { return static_cast<unsigned long long>(x); };
    return text_response(200, "text/plain", 1024,
                         "domain: %s\ndomid: %s\nrequests: %llu\nconnections: %llu\nopen: %u\n"
                         "uptime_ms: %llu\nbytes_sent: %llu\nrx_frames: %llu\ntx_frames: %llu\n"
                         "rx_dropped: %llu\ntx_dropped: %llu\ntx_errors: %llu\nnotifies: %llu\n"
                         "rx_passes: %llu\n",
                         server.identity().name, server.identity().domid, ull(c.requests),
                         ull(c.accepted), c.open, ull(uptime_ms), ull(c.bytes_sent),
                         ull(v.rx_frames), ull(v.tx_frames), ull(v.rx_dropped + v.rx_errors),
                         ull(v.tx_dropped), ull(v.tx_errors), ull(v.notifies), ull(v.rx_passes));
}

// "n=<digits>" as the whole query; false when absent or malformed.
bool query_n(Slice query, uint64_t* out) {
    if (query.size < 3 || query.size > 2 + 19 || strncmp(query.data, "n=", 2) != 0) return false;
    uint64_t v = 0;
    for (size_t i = 2; i < query.size; ++i) {
        char c = query.data[i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    *out = v;
    return true;
}

}  // namespace

const char* pattern_block() {
    static char block[kPatternBlock + 64];
    static bool filled;
    if (!filled) {
        for (size_t i = 0; i < sizeof(block); ++i) block[i] = kPattern[i % 64];
        filled = true;
    }
    return block;
}

const char* reason(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 413:
            return "Content Too Large";
        case 431:
            return "Request Header Fields Too Large";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Error";
    }
}

Response error(int status) {
    Response r = text_response(status, "text/plain", 96, "%d %s\n", status, reason(status));
    r.allow_header = status == 405;
    return r;
}

Response route(const Request& request, const Server& server) {
    if (!request.method.equals("GET") && !request.method.equals("HEAD")) return error(405);
    Slice path = request.target, query;
    if (const char* q = static_cast<const char*>(memchr(path.data, '?', path.size))) {
        query = {q + 1, path.size - static_cast<size_t>(q + 1 - path.data)};
        path.size = static_cast<size_t>(q - path.data);
    }
    if (path.equals("/")) return home(server);
    if (path.equals("/stats")) return stats(server);
    if (path.equals("/bytes")) {
        uint64_t n;
        if (!query_n(query, &n) || n > kMaxBytes) return error(400);
        Response r;
        r.content_type = "application/octet-stream";
        r.pattern_bytes = n;
        return r;
    }
    return error(404);
}

}  // namespace httpd
