// The optional Prometheus endpoint (xenolithd --metrics): HTTP/1.0 GET /metrics on a unix
// socket or a loopback TCP port, answered with the text exposition format from the same
// counters `xn top` shows. Loopback only: the figures name every guest on the host.
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "base/unique_fd.hpp"

namespace xenolith::daemon {

class MetricsServer {
public:
    // `address`: "unix:/path" or "127.0.0.1:PORT" / "[::1]:PORT" / "localhost:PORT".
    // Throws Error for other addresses or when it cannot listen.
    MetricsServer(const std::string& address, std::function<std::string()> render);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // The TCP port bound (useful with port 0), or 0 for a unix socket.
    int port() const { return port_; }

private:
    void run();
    void serve(int fd);

    std::function<std::string()> render_;
    std::string unix_path_;
    int port_ = 0;
    UniqueFd listen_fd_;
    UniqueFd stop_fd_;
    std::thread thread_;
};

}  // namespace xenolith::daemon
