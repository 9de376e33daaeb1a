// A small HTTP/1.1 client for the tests that talk to the httpd guest through a forwarded
// port on 127.0.0.1: a free port to forward, a connection, one request and its response.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/unique_fd.hpp"

namespace xenolith::integration {

// A TCP port on 127.0.0.1 that nothing listens on now (0 if none could be had).
uint16_t free_port();
// Connected to 127.0.0.1:port with a 5 s receive timeout, or an invalid fd.
UniqueFd connect_to(uint16_t port);

// One response: headers, then exactly Content-Length bytes of body.
struct Response {
    std::string status_line;
    std::string headers;
    std::string body;
};

// Sends `request` and reads one response; bytes read past it stay in `buffer` for the next
// (keep-alive). nullopt when the connection ends or times out first.
std::optional<Response> exchange(int fd, const std::string& request, std::string& buffer);

}  // namespace xenolith::integration
