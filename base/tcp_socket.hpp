// TCP by host name and port, for the migration stream between two daemons: a listening
// socket (port 0 picks one) and a connection with a time limit. Errors name the address.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "base/unique_fd.hpp"

namespace xenolith {

struct TcpAddress {
    std::string host;  // a name or a numeric address; "[::1]" brackets are taken off
    uint16_t port = 0;
};

// "HOST:PORT" (or "tcp:HOST:PORT", as xl's -s transports are written). Throws Error naming
// `what` and the text when it is not one.
TcpAddress parse_tcp_address(const std::string& text, const std::string& what);

// Binds and listens on `address` (SO_REUSEADDR); `bound_port` gets the port bound.
UniqueFd listen_tcp(const TcpAddress& address, int backlog, uint16_t& bound_port);

// Connects, giving up after `timeout`. Throws SystemError naming the address.
UniqueFd connect_tcp(const TcpAddress& address, std::chrono::milliseconds timeout);

}  // namespace xenolith
