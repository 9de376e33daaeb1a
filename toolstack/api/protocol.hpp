// The control API's wire protocol: newline-delimited JSON over a unix stream socket.
//
//   request:  {"api": 1, "id": 7, "command": "pause", "args": {"domain": "web"}}
//   reply:    {"api": 1, "id": 7, "ok": true, "result": {...}}
//         or  {"api": 1, "id": 7, "ok": false, "error": {"code": "ENOENT", "message": "..."}}
//
// One request at a time per connection, answered in order. A few commands (console) turn
// the connection into a raw byte stream after their reply. docs/control-api.md is the
// reference; this file is the code both ends share.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::api {

// Bumped on incompatible changes; a daemon refuses requests of another version (EPROTO).
inline constexpr int kApiVersion = 1;
// A request or reply line longer than this is a protocol error (a hostile or broken peer).
inline constexpr std::size_t kMaxLineBytes = 4 * 1024 * 1024;

// Where the daemon keeps its socket, pid lock and logs. XENOLITH_RUN_DIR and
// XENOLITH_LOG_DIR override the defaults: /run/xenolith and /var/log/xenolith for root,
// $XDG_RUNTIME_DIR/xenolith (or /tmp/xenolith-UID) and its log/ for anyone else.
struct Paths {
    std::string run_dir;
    std::string log_dir;

    std::string control_socket() const { return run_dir + "/xenolithd.sock"; }
    std::string pid_file() const { return run_dir + "/xenolithd.pid"; }
    std::string xenstored_socket() const { return run_dir + "/xenstored.sock"; }

    static Paths from_environment();
};

// A failed request: the errno name the daemon chose ("ENOENT", "EEXIST", "EINVAL", ...) and
// one sentence for people.
class ApiError : public Error {
public:
    ApiError(std::string code, const std::string& message)
        : Error(message), code_(std::move(code)) {}
    const std::string& code() const { return code_; }

private:
    std::string code_;
};

// Reads newline-terminated lines from a stream fd, keeping what follows the last line.
class LineReader {
public:
    explicit LineReader(int fd) : fd_(fd) {}
    // The next line without its newline; nullopt at end of stream. Throws Error on a line
    // longer than kMaxLineBytes or a read error.
    std::optional<std::string> next();
    // Bytes received after the last line returned (the start of a raw stream).
    std::string take_buffered() { return std::exchange(buffer_, {}); }

private:
    int fd_;
    std::string buffer_;
};

// The client end: one connection to the daemon.
class Client {
public:
    explicit Client(UniqueFd fd) : fd_(std::move(fd)), reader_(fd_.get()) {}
    Client(Client&&) = delete;

    // nullopt when no daemon listens at `socket_path`; throws for other failures.
    static std::unique_ptr<Client> connect(const std::string& socket_path);

    // Sends one request and waits for its reply; returns "result" or throws ApiError.
    nlohmann::json call(std::string_view command, nlohmann::json args = nlohmann::json::object());

    int fd() const { return fd_.get(); }
    LineReader& reader() { return reader_; }

private:
    UniqueFd fd_;
    LineReader reader_;
    uint64_t next_id_ = 1;
};

}  // namespace xenolith::api
