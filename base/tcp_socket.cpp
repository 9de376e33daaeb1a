#include "base/tcp_socket.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "base/error.hpp"

namespace xenolith {

namespace {

struct AddrInfoFree {
    void operator()(addrinfo* a) const { ::freeaddrinfo(a); }
};
using AddrInfo = std::unique_ptr<addrinfo, AddrInfoFree>;

std::string text_of(const TcpAddress& a) {
    return a.host + ":" + std::to_string(a.port);
}

AddrInfo resolve(const TcpAddress& a, bool passive) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    addrinfo* out = nullptr;
    const std::string port = std::to_string(a.port);
    if (int rc =
            ::getaddrinfo(a.host.empty() ? nullptr : a.host.c_str(), port.c_str(), &hints, &out))
        throw Error(text_of(a) + ": " + ::gai_strerror(rc));
    return AddrInfo(out);
}

// Nagle off: the migration handshake's short lines must not wait for more to send.
void no_delay(int fd) {
    int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

}  // namespace

TcpAddress parse_tcp_address(const std::string& text, const std::string& what) {
    std::string rest = text.rfind("tcp:", 0) == 0 ? text.substr(4) : text;
    const size_t colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0)
        throw Error(what + " " + text + ": expected [tcp:]HOST:PORT");
    TcpAddress a;
    a.host = rest.substr(0, colon);
    if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']')
        a.host = a.host.substr(1, a.host.size() - 2);
    const std::string port = rest.substr(colon + 1);
    char* end = nullptr;
    const long n = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || n < 0 || n > 65535)
        throw Error(what + " " + text + ": '" + port + "' is not a port number");
    a.port = static_cast<uint16_t>(n);
    return a;
}

UniqueFd listen_tcp(const TcpAddress& address, int backlog, uint16_t& bound_port) {
    AddrInfo list = resolve(address, true);
    int err = EADDRNOTAVAIL;
    for (addrinfo* ai = list.get(); ai; ai = ai->ai_next) {
        UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
        if (!fd) {
            err = errno;
            continue;
        }
        int on = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 ||
            ::listen(fd.get(), backlog) != 0) {
            err = errno;
            continue;
        }
        sockaddr_storage bound{};
        socklen_t len = sizeof bound;
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
        bound_port =
            ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
        return fd;
    }
    throw SystemError("cannot listen on " + text_of(address), err);
}

UniqueFd connect_tcp(const TcpAddress& address, std::chrono::milliseconds timeout) {
    AddrInfo list = resolve(address, false);
    int err = ECONNREFUSED;
    for (addrinfo* ai = list.get(); ai; ai = ai->ai_next) {
        UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                             ai->ai_protocol));
        if (!fd) {
            err = errno;
            continue;
        }
        if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            err = errno;
            continue;
        }
        pollfd p{fd.get(), POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
            err = ETIMEDOUT;
            continue;
        }
        socklen_t len = sizeof err;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) continue;
        ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
        no_delay(fd.get());
        return fd;
    }
    throw SystemError("cannot connect to " + text_of(address), err);
}

}  // namespace xenolith
