#include "toolstack/daemon/control_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "base/error.hpp"
#include "base/unix_socket.hpp"

namespace xenolith::daemon {

void Session::reply(bool ok, const nlohmann::json& body) {
    nlohmann::json r = {{"api", api::kApiVersion}, {"id", request_id_}, {"ok", ok}};
    r[ok ? "result" : "error"] = body;
    // Invalid UTF-8 from a guest (a name, a console line) must not abort the reply.
    std::string line = r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    write_all(fd_, line.data(), line.size());
}

void Session::begin_stream(const nlohmann::json& result) {
    reply(true, result);
    streaming_ = true;
}

ControlServer::ControlServer(const std::string& socket_path, std::map<std::string, Handler> handlers)
    : path_(socket_path), handlers_(std::move(handlers)) {
    listen_fd_ = listen_unix(path_, 0600);
    stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_fd_) throw SystemError("control socket: eventfd", errno);
    accept_thread_ = std::thread([this] { accept_loop(); });
}

ControlServer::~ControlServer() {
    stop();
    ::unlink(path_.c_str());
}

void ControlServer::stop_accepting() {
    {
        std::lock_guard lock(mutex_);
        if (stopped_) return;
        stopped_ = true;
    }
    uint64_t one = 1;
    ssize_t rc = ::write(stop_fd_.get(), &one, sizeof one);
    (void)rc;
    if (accept_thread_.joinable()) accept_thread_.join();
    listen_fd_.reset();
    ::unlink(path_.c_str());
}

void ControlServer::stop() {
    stop_accepting();
    std::list<Connection> all;
    {
        std::lock_guard lock(mutex_);
        for (auto& c : connections_) ::shutdown(c.fd.get(), SHUT_RD);  // idle readers see EOF
        all.splice(all.end(), connections_);
    }
    for (auto& c : all)
        if (c.thread.joinable()) c.thread.join();
}

void ControlServer::reap_finished_locked() {
    for (auto it = connections_.begin(); it != connections_.end();) {
        if (it->done.load()) {
            it->thread.join();
            it = connections_.erase(it);
        } else {
            ++it;
        }
    }
}

void ControlServer::accept_loop() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
        int n = ::poll(fds, 2, 1000);
        if (n < 0 && errno != EINTR) return;
        if (fds[1].revents) return;
        std::lock_guard lock(mutex_);
        reap_finished_locked();
        if (!(fds[0].revents & POLLIN)) continue;
        int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;  // the client gave up, or fds ran out: it will retry
        Connection& c = connections_.emplace_back();
        c.fd.reset(fd);
        c.thread = std::thread([this, &c] { serve(c); });
    }
}

void ControlServer::serve(Connection& c) {
    Session session(c.fd.get(), stop_fd_.get());
    try {
        while (std::optional<std::string> line = session.reader().next()) {
            handle(session, *line);
            if (session.streaming()) break;
        }
    } catch (const std::exception&) {
        // A broken or hostile client: drop it.
    }
    ::shutdown(c.fd.get(), SHUT_RDWR);
    c.done.store(true);
}

void ControlServer::handle(Session& s, const std::string& line) {
    nlohmann::json request = nlohmann::json::parse(line, nullptr, false);
    s.set_request_id(request.is_object() ? request.value("id", nlohmann::json(nullptr)) : nlohmann::json(nullptr));
    auto fail = [&](const std::string& code, const std::string& message) {
        s.reply(false, {{"code", code}, {"message", message}});
    };
    if (!request.is_object()) return fail("EBADMSG", "the request is not a JSON object");
    const auto version = request.find("api");
    if (version == request.end() || !version->is_number_integer() || *version != api::kApiVersion)
        return fail("EPROTO", "this daemon speaks control API version " + std::to_string(api::kApiVersion));
    const auto command = request.find("command");
    if (command == request.end() || !command->is_string()) return fail("EBADMSG", "the request names no command");
    auto handler = handlers_.find(command->get<std::string>());
    if (handler == handlers_.end()) return fail("ENOSYS", "unknown command '" + command->get<std::string>() + "'");
    nlohmann::json args = request.value("args", nlohmann::json::object());
    if (!args.is_object()) return fail("EINVAL", "args must be an object");
    try {
        nlohmann::json result = handler->second(args, s);
        if (!s.streaming()) s.reply(true, result);
    } catch (const api::ApiError& e) {
        if (!s.streaming()) fail(e.code(), e.what());
    } catch (const nlohmann::json::exception& e) {
        if (!s.streaming()) fail("EINVAL", std::string("bad arguments: ") + e.what());
    } catch (const std::exception& e) {
        if (!s.streaming()) fail("EIO", e.what());
    }
}

}  // namespace xenolith::daemon
