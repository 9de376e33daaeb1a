#include "backends/xenstored/socket_server.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "backends/xenstored/xenstored.hpp"
#include "base/error.hpp"

namespace xenolith::xenstored {

namespace {

constexpr size_t kIoChunk = 16 * 1024;

}  // namespace

SocketServer::SocketServer(Xenstored& daemon, std::string path)
    : daemon_(daemon), path_(std::move(path)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.empty() || path_.size() >= sizeof(addr.sun_path)) {
        throw Error("xenstored socket path '" + path_ + "' must be 1 to " +
                    std::to_string(sizeof(addr.sun_path) - 1) + " bytes long");
    }
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);

    listen_fd_.reset(static_cast<int>(check_syscall(
        ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "xenstored: socket")));
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path_.c_str());
    if (::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
        throw SystemError("xenstored: cannot bind " + path_, errno);
    }
    // The socket grants dom0's privileges: only its owner may connect.
    check_syscall(::chmod(path_.c_str(), 0600), "xenstored: chmod socket");
    check_syscall(::listen(listen_fd_.get(), 64), "xenstored: listen");

    epoll_fd_.reset(
        static_cast<int>(check_syscall(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1")));
    event_fd_.reset(static_cast<int>(
        check_syscall(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "xenstored: eventfd")));
    for (int fd : {listen_fd_.get(), event_fd_.get()}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        check_syscall(::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev), "epoll_ctl");
    }
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

SocketServer::~SocketServer() {
    thread_.request_stop();
    signal();
    if (thread_.joinable()) thread_.join();
    clients_.clear();  // Connections detach from the daemon here, on this thread
    ::unlink(path_.c_str());
}

void SocketServer::signal() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(event_fd_.get(), &one, sizeof(one));
}

void SocketServer::run(std::stop_token stop) {
    std::array<epoll_event, 64> events{};
    while (!stop.stop_requested()) {
        int n = ::epoll_wait(epoll_fd_.get(), events.data(), static_cast<int>(events.size()), -1);
        if (n < 0 && errno != EINTR) break;
        std::map<int, bool> readable;
        for (int i = 0; i < n; ++i) {
            int fd = events[static_cast<size_t>(i)].data.fd;
            if (fd == event_fd_.get()) {
                uint64_t count;
                [[maybe_unused]] ssize_t r = ::read(event_fd_.get(), &count, sizeof(count));
            } else if (fd == listen_fd_.get()) {
                accept_clients();
            } else {
                readable[fd] =
                    events[static_cast<size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR);
            }
        }
        if (stop.stop_requested()) break;
        // Every client gets a turn: output may have been queued for any of them by another
        // client's request (watch events).
        for (auto it = clients_.begin(); it != clients_.end();) {
            bool is_readable = readable.count(it->first) && readable[it->first];
            if (service(*it->second, is_readable)) {
                update_interest(*it->second);
                ++it;
            } else {
                ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, it->first, nullptr);
                it = clients_.erase(it);
                clients_count_ = clients_.size();
            }
        }
    }
}

void SocketServer::accept_clients() {
    for (;;) {
        int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;  // EAGAIN, or a client that gave up: nothing to do either way
        auto client = std::make_unique<Client>();
        client->fd.reset(fd);
        client->conn = std::make_unique<Connection>(daemon_, 0, true, [this] { signal(); });
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        client->interest = EPOLLIN;
        if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) continue;
        clients_.emplace(fd, std::move(client));
        clients_count_ = clients_.size();
    }
}

bool SocketServer::service(Client& client, bool readable) {
    std::array<uint8_t, kIoChunk> buf;
    if (readable && client.pending.empty()) {
        ssize_t n = ::recv(client.fd.get(), buf.data(), buf.size(), 0);
        if (n == 0) return false;  // the client hung up
        if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
        if (n > 0)
            client.pending.assign(reinterpret_cast<const char*>(buf.data()),
                                  static_cast<size_t>(n));
    }
    // Feed and flush until neither makes progress: flushing replies may unblock input
    // held back by the outstanding-request quota.
    for (;;) {
        bool progress = false;
        if (!client.pending.empty()) {
            size_t used = client.conn->feed(client.pending);
            client.pending.erase(0, used);
            progress |= used > 0;
        }
        if (client.conn->closed() || client.conn->released()) return false;
        while (client.conn->output_size() > 0) {
            size_t len = client.conn->copy_output(buf);
            ssize_t sent = ::send(client.fd.get(), buf.data(), len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (sent < 0) {
                if (errno == EAGAIN || errno == EINTR) break;
                return false;
            }
            client.conn->consume_output(static_cast<size_t>(sent));
            progress |= sent > 0;
            if (static_cast<size_t>(sent) < len) break;
        }
        if (!progress || client.pending.empty()) break;
    }
    return true;
}

void SocketServer::update_interest(Client& client) {
    uint32_t want = 0;
    if (client.pending.empty()) want |= EPOLLIN;
    if (client.conn->output_size() > 0) want |= EPOLLOUT;
    if (want == client.interest) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = client.fd.get();
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, client.fd.get(), &ev) == 0)
        client.interest = want;
}

}  // namespace xenolith::xenstored
