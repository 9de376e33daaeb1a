// The control API's listening end: a unix socket (mode 0600: the API is root's, as xl's
// access to Xen is), one thread per client connection, requests dispatched by command
// name to handlers. toolstack/api/protocol.hpp has the wire format.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/unique_fd.hpp"
#include "toolstack/api/protocol.hpp"

namespace xenolith::daemon {

// One client connection, as a handler sees it.
class Session {
  public:
    Session(int fd, int stop_fd) : fd_(fd), stop_fd_(stop_fd), reader_(fd) {}
    int fd() const { return fd_; }
    // Readable when the daemon is stopping: long-running handlers poll it.
    int stop_fd() const { return stop_fd_; }
    api::LineReader& reader() { return reader_; }

    // For commands that stream (console): sends the OK reply now; the handler then owns
    // the connection as a raw byte stream, which ends when the handler returns.
    void begin_stream(const nlohmann::json& result);
    bool streaming() const { return streaming_; }

    // What the session holds until it ends (a debugger's hold on a domain): each named
    // slot is released when the connection closes, however it closes.
    std::shared_ptr<void>& attachment(const std::string& name) { return attachments_[name]; }

    // Internal: the request being answered.
    void set_request_id(nlohmann::json id) { request_id_ = std::move(id); }
    void reply(bool ok, const nlohmann::json& body);

  private:
    int fd_;
    int stop_fd_;
    api::LineReader reader_;
    nlohmann::json request_id_;
    bool streaming_ = false;
    std::map<std::string, std::shared_ptr<void>> attachments_;
};

using Handler = std::function<nlohmann::json(const nlohmann::json& args, Session& session)>;

class ControlServer {
  public:
    // Listens on `socket_path` at once (a stale socket is replaced; the instance lock
    // guarantees no live daemon owns it). Throws Error.
    ControlServer(const std::string& socket_path, std::map<std::string, Handler> handlers);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Stops taking connections; requests already received are still answered.
    void stop_accepting();
    // Ends every session (their reads see end-of-stream; streams see stop_fd) and joins.
    void stop();

  private:
    struct Connection {
        UniqueFd fd;
        std::thread thread;
        std::atomic<bool> done{false};
    };
    void accept_loop();
    void serve(Connection& c);
    void handle(Session& s, const std::string& line);
    void reap_finished_locked();

    const std::string path_;
    const std::map<std::string, Handler> handlers_;
    UniqueFd listen_fd_;
    UniqueFd stop_fd_;  // eventfd, readable once stopping
    std::thread accept_thread_;
    std::mutex mutex_;
    std::list<Connection> connections_;
    bool stopped_ = false;
};

}  // namespace xenolith::daemon
