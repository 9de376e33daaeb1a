#include "vmi/gdb/gdb_listener.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "base/error.hpp"
#include "base/unix_socket.hpp"
#include "vmi/gdb/channel.hpp"

namespace xenolith::vmi::gdb {

namespace {

struct HostPort {
    std::string host;
    std::string port;
};

// "HOST:PORT", HOST perhaps "[v6 address]".
HostPort split_host_port(const std::string& endpoint, const std::string& rest) {
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size())
        throw Error("gdb endpoint '" + endpoint + "' must be tcp:HOST:PORT or unix:PATH");
    std::string host = rest.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    return {host, rest.substr(colon + 1)};
}

UniqueFd listen_tcp(const std::string& endpoint, const HostPort& where, std::string& bound) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(where.host.c_str(), where.port.c_str(), &hints, &found);
    if (rc != 0) throw Error("gdb endpoint '" + endpoint + "': " + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, ::freeaddrinfo);

    UniqueFd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw SystemError("socket for " + endpoint, errno);
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd.get(), found->ai_addr, found->ai_addrlen) < 0)
        throw SystemError("cannot bind " + endpoint, errno);
    if (::listen(fd.get(), 1) < 0) throw SystemError("cannot listen on " + endpoint, errno);

    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    unsigned port = addr.ss_family == AF_INET6
                        ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                        : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    bool v6 = found->ai_family == AF_INET6;
    bound = "tcp:" + (v6 ? "[" + where.host + "]" : where.host) + ":" + std::to_string(port);
    return fd;
}

}  // namespace

GdbListener::GdbListener(const std::string& endpoint) {
    if (endpoint.rfind("tcp:", 0) == 0) {
        fd_ = listen_tcp(endpoint, split_host_port(endpoint, endpoint.substr(4)), endpoint_);
    } else if (endpoint.rfind("unix:", 0) == 0) {
        try {
            fd_ = listen_unix(endpoint.substr(5), 0600, 1);
        } catch (const Error& e) {
            throw Error("gdb endpoint '" + endpoint + "': " + e.what());
        }
        unix_path_ = endpoint.substr(5);
        endpoint_ = endpoint;
    } else {
        throw Error("gdb endpoint '" + endpoint + "' must be tcp:HOST:PORT or unix:PATH");
    }
}

GdbListener::~GdbListener() {
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
}

UniqueFd GdbListener::accept() {
    for (;;) {
        int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
            // One small packet answers another: Nagle's delay would stall every exchange.
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return UniqueFd(fd);
        }
        if (errno != EINTR && errno != ECONNABORTED)
            throw SystemError("accept on " + endpoint_, errno);
    }
}

GdbServer::End listen_and_serve(const std::string& endpoint, Target& target) {
    GdbListener listener(endpoint);
    UniqueFd connection = listener.accept();
    FdChannel channel(connection.get());
    return GdbServer(target, channel).serve();
}

}  // namespace xenolith::vmi::gdb
