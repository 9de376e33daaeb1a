// xl migrate between two daemons (docs/domain-stream.md, "Migration"): the sender freezes
// the domain and sends its whole stream; the receiver restores it paused and says READY;
// the sender says GO; the receiver unpauses it and says RUNNING; only then does the
// sender destroy its own. Until GO, any failure leaves the guest running on the sender and
// nothing on the receiver.
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>

#include "base/error.hpp"
#include "base/tcp_socket.hpp"
#include "base/unix_socket.hpp"
#include "state/byte_stream.hpp"
#include "toolstack/api/protocol.hpp"
#include "toolstack/daemon/domain_manager.hpp"
#include "toolstack/daemon/frozen_domain.hpp"
#include "toolstack/daemon/managed_domain.hpp"

namespace xenolith::daemon {

using api::ApiError;
using namespace std::chrono_literals;

namespace {

constexpr auto kConnectTimeout = 10s;
// How long each side waits for the other's next line: the receiver builds the domain and
// its backends before READY, which takes milliseconds.
constexpr auto kReplyTimeout = 30s;
constexpr size_t kMaxLine = 4096;
// How long a sender whose stream broke waits for the target's reason.
constexpr auto kLastWordTimeout = 2s;
// How long a refusing receiver keeps reading after its ERROR line, so that the sender
// finishes writing and reads the line, rather than meeting a reset.
constexpr auto kDrainQuiet = 300ms;

void send_line(int fd, const std::string& line) {
    const std::string text = line + "\n";
    if (!write_all(fd, text.data(), text.size())) throw Error("the peer has gone");
}

// One line without its newline; empty when the peer closes, times out or sends too much.
std::string read_line(int fd, std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
        char c;
        if (::recv(fd, &c, 1, 0) != 1) return "";
        if (c == '\n') return line;
        if (line.size() == kMaxLine) return "";
        line += c;
    }
}

// Says why, then reads (and drops) what the sender still sends until it goes quiet: a
// socket closed with unread data resets the connection, and the reason would be lost.
void refuse(int fd, const std::string& why) {
    try {
        send_line(fd, "ERROR " + why);
    } catch (const Error&) {
        return;
    }
    ::shutdown(fd, SHUT_WR);
    char buf[65536];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(kDrainQuiet.count())) <= 0) return;
        if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
    }
}

// A line's text after `word` and a space, when it starts so.
std::optional<std::string> after(const std::string& line, const std::string& word) {
    if (line.rfind(word, 0) != 0) return std::nullopt;
    return line.size() > word.size() ? line.substr(word.size() + 1) : std::string();
}

}  // namespace

MigrateResult DomainManager::migrate(uint32_t domid, const std::string& target) {
    auto md = domain_to_save(domid);
    TcpAddress address;
    try {
        address = parse_tcp_address(target, "migrate:");
    } catch (const Error& e) {
        throw ApiError("EINVAL", e.what());
    }
    const auto t0 = std::chrono::steady_clock::now();
    UniqueFd sock;
    try {
        sock = connect_tcp(address, kConnectTimeout);
    } catch (const SystemError& e) {
        const char* name = ::strerrorname_np(e.code());
        throw ApiError(name ? name : "EIO", std::string("migrate: ") + e.what());
    }
    MigrateResult result;
    {
        std::lock_guard op(md->op_mutex);
        if (md->torn_down) throw ApiError("ENOENT", "domain " + std::to_string(domid) + " is gone");
        require_savable(*md);
        FrozenDomain frozen(*md, store_);
        result.target_domid = send_and_hand_over(sock.get(), frozen, result);
        frozen.keep_frozen();
        teardown(*md);
    }
    remove(md);
    result.ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    log_.domain(md->domain->name(), domid,
                "migrated to " + target + " (domain " + std::to_string(result.target_domid) +
                    " there): " + std::to_string(result.bytes) + " bytes in " +
                    std::to_string(result.ms) + " ms");
    return result;
}

// The stream, then READY / GO / RUNNING. Throws ApiError having thawed nothing: the caller's
// FrozenDomain thaws the domain when this throws before GO. After GO, the domain may run on
// the target: a missing RUNNING leaves it paused here, for the operator to decide.
uint32_t DomainManager::send_and_hand_over(int fd, FrozenDomain& frozen, MigrateResult& result) {
    try {
        state::FdSink sink(fd);
        const state::SaveCounts c = frozen.write(sink);
        result.pages = c.pages.pages;
        result.zero_pages = c.pages.zero_pages;
        result.bytes = c.bytes;
    } catch (const std::exception& e) {
        // A target that refused the stream part-way says why before it goes.
        if (auto why = after(read_line(fd, kLastWordTimeout), "ERROR"))
            throw ApiError("EIO", "migrate: the target refused: " + *why);
        throw ApiError("EIO", std::string("migrate: sending the domain: ") + e.what());
    }
    const std::string ready = read_line(fd, kReplyTimeout);
    if (auto why = after(ready, "ERROR"))
        throw ApiError("EIO", "migrate: the target refused: " + *why);
    auto target_id = after(ready, "READY");
    if (!target_id || target_id->empty())
        throw ApiError("EIO", "migrate: the target did not acknowledge the transfer");
    try {
        send_line(fd, "GO");
    } catch (const Error&) {
        throw ApiError("EIO", "migrate: the target went before it was allowed to start");
    }
    const std::string running = read_line(fd, kReplyTimeout);
    if (running == "RUNNING") return static_cast<uint32_t>(std::stoul(*target_id));
    if (auto why = after(running, "ERROR"))
        throw ApiError("EIO", "migrate: the target could not start the domain: " + *why);
    frozen.keep_frozen();  // it may run there: two copies must never run
    throw ApiError("EIO",
                   "migrate: the target did not confirm that the domain started; it stays paused "
                   "here: unpause it or destroy it once you know which copy runs");
}

void DomainManager::receive_migration(int fd, const std::string& peer) {
    state::FdSource source(fd);
    RestoreResult r;
    try {
        r = restore_from(source, "migration from " + peer, true);
    } catch (const std::exception& e) {
        log_.info(std::string("migration from ") + peer + " refused: " + e.what());
        refuse(fd, e.what());
        return;
    }
    auto abandon = [&](const std::string& why) {
        log_.domain(r.name, r.domid, "migration from " + peer + " abandoned: " + why);
        try {
            destroy(r.domid);
        } catch (const std::exception&) {
        }
    };
    try {
        send_line(fd, "READY " + std::to_string(r.domid));
    } catch (const Error&) {
        return abandon("the sender has gone");
    }
    if (read_line(fd, kReplyTimeout) != "GO") return abandon("the sender did not say GO");
    try {
        unpause(r.domid);
    } catch (const std::exception& e) {
        abandon(e.what());
        refuse(fd, e.what());
        return;
    }
    try {
        send_line(fd, "RUNNING");
    } catch (const Error&) {
    }
    log_.domain(r.name, r.domid,
                "migrated in from " + peer + ": " + std::to_string(r.pages) + " pages in " +
                    std::to_string(r.ms) + " ms");
}

}  // namespace xenolith::daemon
