// The receiving end of `xn migrate` (xenolithd --migrate-listen HOST:PORT), as xl's
// migrate-receive: each connection carries one domain stream and its handshake, handled on
// this listener's thread one at a time (a second sender waits in the backlog). The stream
// is not authenticated: listen only where the senders are trusted, as with xl's -s.
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "base/tcp_socket.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::daemon {

class MigrationListener {
  public:
    // Called with the connected socket and the peer's address; it owns the whole exchange.
    using Receive = std::function<void(int fd, const std::string& peer)>;

    // Throws Error when it cannot listen.
    MigrationListener(const TcpAddress& address, Receive receive);
    // Stops accepting; a migration under way ends first (its reads time out).
    ~MigrationListener();
    MigrationListener(const MigrationListener&) = delete;
    MigrationListener& operator=(const MigrationListener&) = delete;

    uint16_t port() const { return port_; }

    // How long a receive waits on a silent sender before giving up.
    static constexpr int kReadTimeoutS = 30;

  private:
    void run();

    Receive receive_;
    uint16_t port_ = 0;
    UniqueFd listen_;
    UniqueFd stop_;
    std::thread thread_;
};

}  // namespace xenolith::daemon
