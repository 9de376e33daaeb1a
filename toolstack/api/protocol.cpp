#include "toolstack/api/protocol.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "base/unix_socket.hpp"

namespace xenolith::api {

Paths Paths::from_environment() {
    Paths p;
    const char* run = std::getenv("XENOLITH_RUN_DIR");
    const char* log = std::getenv("XENOLITH_LOG_DIR");
    if (run && *run) {
        p.run_dir = run;
    } else if (::geteuid() == 0) {
        p.run_dir = "/run/xenolith";
    } else if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) {
        p.run_dir = std::string(xdg) + "/xenolith";
    } else {
        p.run_dir = "/tmp/xenolith-" + std::to_string(::geteuid());
    }
    if (log && *log) p.log_dir = log;
    else if (::geteuid() == 0 && !(run && *run)) p.log_dir = "/var/log/xenolith";
    else p.log_dir = p.run_dir + "/log";
    return p;
}

std::optional<std::string> LineReader::next() {
    size_t scanned = 0;
    for (;;) {
        size_t nl = buffer_.find('\n', scanned);
        if (nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            return line;
        }
        scanned = buffer_.size();
        if (buffer_.size() > kMaxLineBytes) throw Error("control API: a line exceeds 4 MiB");
        char chunk[16384];
        ssize_t n = ::read(fd_, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SystemError("control API: read", errno);
        if (n == 0) return std::nullopt;
        buffer_.append(chunk, static_cast<size_t>(n));
    }
}

std::unique_ptr<Client> Client::connect(const std::string& socket_path) {
    int err = 0;
    UniqueFd fd = connect_unix(socket_path, err);
    if (!fd) return nullptr;
    return std::make_unique<Client>(std::move(fd));
}

nlohmann::json Client::call(std::string_view command, nlohmann::json args) {
    uint64_t id = next_id_++;
    nlohmann::json request = {{"api", kApiVersion}, {"id", id}, {"command", command}, {"args", std::move(args)}};
    std::string line = request.dump() + "\n";
    if (!write_all(fd_.get(), line.data(), line.size()))
        throw Error("the daemon closed the connection");
    std::optional<std::string> reply_line = reader_.next();
    if (!reply_line) throw Error("the daemon closed the connection before replying to " + std::string(command));
    nlohmann::json reply = nlohmann::json::parse(*reply_line, nullptr, false);
    if (reply.is_discarded() || !reply.is_object())
        throw Error("the daemon sent a reply that is not JSON");
    if (reply.value("id", uint64_t{0}) != id) throw Error("the daemon answered another request");
    if (reply.value("ok", false)) return reply.value("result", nlohmann::json::object());
    const nlohmann::json& e = reply.value("error", nlohmann::json::object());
    throw ApiError(e.value("code", "EIO"), e.value("message", "the daemon reported an error"));
}

}  // namespace xenolith::api
