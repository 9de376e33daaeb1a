// xenstored on a unix socket: every client is a privileged dom0 connection speaking Xen's
// wire protocol, so that Debian's xenstore-utils work against it unchanged
// (XENSTORED_PATH=<socket> xenstore-ls). One epoll loop on its own thread serves all
// clients; the destructor stops it, closes every client and removes the socket file.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "backends/xenstored/connection.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::xenstored {

class Xenstored;

class SocketServer {
  public:
    // Binds `path` (mode 0600; a stale socket file there is replaced), listens and starts
    // serving. Throws xenolith::Error naming the path when it cannot.
    SocketServer(Xenstored& daemon, std::string path);
    ~SocketServer();
    SocketServer(const SocketServer&) = delete;
    SocketServer& operator=(const SocketServer&) = delete;

    const std::string& path() const { return path_; }
    // Clients currently connected.
    size_t client_count() const { return clients_count_.load(); }

  private:
    struct Client {
        UniqueFd fd;
        std::unique_ptr<Connection> conn;
        std::string pending;  // bytes read but not yet taken by the connection
        uint32_t interest = 0;
    };

    void run(std::stop_token stop);
    void accept_clients();
    // Reads, feeds, writes; false when the client is gone or broke the protocol.
    bool service(Client& client, bool readable);
    void update_interest(Client& client);
    void signal();

    Xenstored& daemon_;
    std::string path_;
    UniqueFd listen_fd_;
    UniqueFd epoll_fd_;
    UniqueFd event_fd_;  // output queued for some client, or stop requested
    std::map<int, std::unique_ptr<Client>> clients_;  // by fd; only the thread touches it
    std::atomic<size_t> clients_count_{0};
    std::jthread thread_;  // last: starts once everything above exists
};

}  // namespace xenolith::xenstored
