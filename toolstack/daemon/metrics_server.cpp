#include "toolstack/daemon/metrics_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.hpp"
#include "base/unix_socket.hpp"

namespace xenolith::daemon {

namespace {
constexpr size_t kMaxRequestBytes = 8192;
constexpr int kRequestTimeoutMs = 2000;
}  // namespace

MetricsServer::MetricsServer(const std::string& address, std::function<std::string()> render)
    : render_(std::move(render)) {
    if (address.rfind("unix:", 0) == 0) {
        unix_path_ = address.substr(5);
        listen_fd_ = listen_unix(unix_path_, 0600, 16);
    } else {
        size_t colon = address.rfind(':');
        if (colon == std::string::npos) throw Error("--metrics " + address + ": expected unix:PATH or HOST:PORT");
        std::string host = address.substr(0, colon);
        std::string port_text = address.substr(colon + 1);
        char* end = nullptr;
        long port = std::strtol(port_text.c_str(), &end, 10);
        if (port_text.empty() || *end || port < 0 || port > 65535)
            throw Error("--metrics " + address + ": '" + port_text + "' is not a port number");
        bool v6 = host == "[::1]" || host == "::1";
        if (!v6 && host != "127.0.0.1" && host != "localhost")
            throw Error("--metrics " + address + ": only loopback addresses (127.0.0.1, [::1]) are served");
        listen_fd_.reset(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!listen_fd_) throw SystemError("metrics: socket", errno);
        int on = 1;
        ::setsockopt(listen_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        int rc;
        if (v6) {
            sockaddr_in6 a{};
            a.sin6_family = AF_INET6;
            a.sin6_addr = in6addr_loopback;
            a.sin6_port = htons(static_cast<uint16_t>(port));
            rc = ::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
        } else {
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons(static_cast<uint16_t>(port));
            rc = ::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
        }
        if (rc != 0) throw SystemError("metrics: cannot bind " + address, errno);
        if (::listen(listen_fd_.get(), 16) != 0) throw SystemError("metrics: listen", errno);
        sockaddr_storage bound{};
        socklen_t len = sizeof bound;
        ::getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
        port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                         : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    }
    stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_fd_) throw SystemError("metrics: eventfd", errno);
    thread_ = std::thread([this] { run(); });
}

MetricsServer::~MetricsServer() {
    uint64_t one = 1;
    ssize_t rc = ::write(stop_fd_.get(), &one, sizeof one);
    (void)rc;
    if (thread_.joinable()) thread_.join();
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
}

void MetricsServer::run() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
        if (fds[1].revents) return;
        if (!(fds[0].revents & POLLIN)) continue;
        UniqueFd client(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (client) serve(client.get());  // one at a time: scrapes are rare and quick
    }
}

void MetricsServer::serve(int fd) {
    std::string request;
    char buf[1024];
    while (request.find("\r\n\r\n") == std::string::npos && request.find("\n\n") == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, kRequestTimeoutMs) <= 0) return;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        request.append(buf, static_cast<size_t>(n));
        if (request.size() > kMaxRequestBytes) return;
    }
    std::string status = "200 OK";
    std::string body;
    if (request.rfind("GET /metrics ", 0) == 0 || request.rfind("GET / ", 0) == 0) {
        body = render_();
    } else if (request.rfind("GET ", 0) == 0) {
        status = "404 Not Found";
        body = "try /metrics\n";
    } else {
        status = "405 Method Not Allowed";
        body = "GET only\n";
    }
    std::string head = "HTTP/1.0 " + status + "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n" +
                       "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    if (write_all(fd, head.data(), head.size())) write_all(fd, body.data(), body.size());
}

}  // namespace xenolith::daemon
