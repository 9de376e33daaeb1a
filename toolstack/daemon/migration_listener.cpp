#include "toolstack/daemon/migration_listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "base/error.hpp"
#include "base/event_fd.hpp"

namespace xenolith::daemon {

namespace {

std::string peer_text(const sockaddr_storage& a) {
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (a.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
        ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (a.ss_family == AF_INET6) {
        const auto* in = reinterpret_cast<const sockaddr_in6*>(&a);
        ::inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
        port = ntohs(in->sin6_port);
    }
    return std::string(host) + ":" + std::to_string(port);
}

}  // namespace

MigrationListener::MigrationListener(const TcpAddress& address, Receive receive)
    : receive_(std::move(receive)), listen_(listen_tcp(address, 4, port_)) {
    stop_ = make_event_fd();
    thread_ = std::thread([this] { run(); });
}

MigrationListener::~MigrationListener() {
    signal_event(stop_.get());
    if (thread_.joinable()) thread_.join();
}

void MigrationListener::run() {
    for (;;) {
        pollfd fds[2] = {{listen_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;  // EINTR
        if (fds[1].revents) return;
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        UniqueFd conn(
            ::accept4(listen_.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
        if (!conn) continue;
        // A sender that stops sending cannot hold this thread (or the daemon's stop) forever.
        timeval tv{kReadTimeoutS, 0};
        ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int on = 1;
        ::setsockopt(conn.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        receive_(conn.get(), peer_text(peer));
    }
}

}  // namespace xenolith::daemon
