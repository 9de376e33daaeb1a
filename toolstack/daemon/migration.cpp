// xl migrate between two daemons (docs/domain-stream.md, "Migration"): the sender freezes
// the domain and sends its whole stream; the receiver restores it paused and says READY;
// the sender says GO; the receiver unpauses it and says RUNNING; only then does the
// sender destroy its own. Until GO, any failure leaves the guest running on the sender and
// nothing on the receiver.
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>

#include "base/elapsed.hpp"
#include "base/error.hpp"
#include "base/tcp_socket.hpp"
#include "base/unix_socket.hpp"
#include "state/byte_stream.hpp"
#include "state/flow_control.hpp"
#include "state/precopy.hpp"
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
// How long a sender whose stream broke waits for the target's reason.
constexpr auto kLastWordTimeout = 2s;
// How long a refusing receiver keeps reading after its ERROR line, so that the sender
// finishes writing and reads the line, rather than meeting a reset.
constexpr auto kDrainQuiet = 300ms;

void send_line(int fd, const std::string& line) {
    const std::string text = line + "\n";
    if (!write_all(fd, text.data(), text.size())) throw Error("the peer has gone");
}

// The next line that is not a receiver's progress report (state/flow_control.hpp).
std::string read_line(int fd, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::string line = state::read_line_until(fd, deadline);
        if (!state::is_applied_report(line)) return line;
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

// The stream broke off: a target that refused it part-way says why before it goes.
[[noreturn]] void stream_failed(int fd, const std::exception& e) {
    if (const auto* api = dynamic_cast<const ApiError*>(&e)) throw *api;
    if (auto why = after(read_line(fd, kLastWordTimeout), "ERROR"))
        throw ApiError("EIO", "migrate: the target refused: " + *why);
    throw ApiError("EIO", std::string("migrate: sending the domain: ") + e.what());
}

// Publishes a migration's progress on the domain while it lasts.
class ProgressShown {
  public:
    ProgressShown(ManagedDomain& md, bool live)
        : md_(md),
          progress_(std::make_shared<MigrationProgress>(md.domain->memory().nr_pages(), live)) {
        md_.migration.store(progress_);
    }
    ~ProgressShown() { md_.migration.store(nullptr); }
    ProgressShown(const ProgressShown&) = delete;
    ProgressShown& operator=(const ProgressShown&) = delete;

  private:
    ManagedDomain& md_;
    std::shared_ptr<MigrationProgress> progress_;
};

}  // namespace

MigrateResult DomainManager::migrate(uint32_t domid, const std::string& target, bool live) {
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
        ProgressShown shown(*md, live);
        if (live) {
            result.target_domid = send_live_and_hand_over(sock.get(), *md, result);
        } else {
            FrozenDomain frozen(*md, store_);
            result.target_domid = send_and_hand_over(sock.get(), frozen, result);
            frozen.keep_frozen();
            result.downtime_ms = ms_since(t0);
        }
        teardown(*md);
    }
    remove(md);
    result.ms = ms_since(t0);
    log_.domain(md->domain->name(), domid,
                std::string(live ? "live-" : "") + "migrated to " + target + " (domain " +
                    std::to_string(result.target_domid) +
                    " there): " + std::to_string(result.bytes) + " bytes in " +
                    std::to_string(result.ms) + " ms, " + std::to_string(result.rounds) +
                    " rounds, paused " + std::to_string(result.downtime_ms) + " ms");
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
        stream_failed(fd, e);
    }
    return hand_over(fd, frozen);
}

uint32_t DomainManager::send_live_and_hand_over(int fd, ManagedDomain& md, MigrateResult& result) {
    state::FdSink sink(fd);
    std::optional<FrozenDomain> frozen;
    try {
        std::optional<state::Precopy> logs;
        try {
            logs.emplace(*md.domain);
        } catch (const Error& e) {
            throw ApiError("EOPNOTSUPP", std::string("migrate --live: ") + e.what());
        }
        state::Precopy& precopy = *logs;
        result.mechanism = precopy.mechanism();
        state::DomainSaver saver(*md.domain, sink, toolstack_config(md));
        const std::shared_ptr<MigrationProgress> progress = md.migration.load();
        saver.on_batch([&](uint64_t pages) {
            progress->round_sent += pages;
            progress->sent_pages += pages;
        });
        state::ReceiverProgress receiver(fd);
        auto catch_up = [&] { receiver.wait_for(saver.bytes()); };
        precopy.run(
            saver, state::PrecopyPolicy{},
            [&](const state::PrecopyRound& r) {
                if (!r.ended) {
                    progress->round = r.round;
                    progress->round_pages = r.to_send;
                    progress->round_sent = 0;
                    return;
                }
                progress->last_dirty = r.dirty;
                log_.domain(md.domain->name(), md.domid(),
                            "migration round " + std::to_string(r.round) + ": " +
                                std::to_string(r.sent.pages) + " pages in " + std::to_string(r.ms) +
                                " ms, " + std::to_string(r.dirty) + " written meanwhile");
            },
            catch_up);
        const auto paused_at = std::chrono::steady_clock::now();
        frozen.emplace(md, store_);
        saver.stop();
        progress->stopped = true;
        progress->round = precopy.rounds();
        progress->round_pages = progress->last_dirty.load();
        progress->round_sent = 0;
        const uint64_t stopped_ms = ms_since(paused_at);
        precopy.last_round(saver);
        const state::SaveCounts c = saver.finish(frozen->console(), frozen->toolstack().store);
        const uint64_t sent_ms = ms_since(paused_at);
        result.rounds = precopy.rounds() + 1;
        result.pages = c.pages.pages;
        result.zero_pages = c.pages.zero_pages;
        result.bytes = c.bytes;
        const uint32_t target_domid = hand_over(fd, *frozen);
        frozen->keep_frozen();
        result.downtime_ms = ms_since(paused_at);
        // Where the pause went, for whoever tunes it.
        log_.domain(md.domain->name(), md.domid(),
                    "migration paused the guest for " + std::to_string(result.downtime_ms) +
                        " ms: stopped in " + std::to_string(stopped_ms) + " ms, the rest sent by " +
                        std::to_string(sent_ms) + " ms, running there at the end");
        return target_domid;
    } catch (const ApiError&) {
        throw;
    } catch (const std::exception& e) {
        stream_failed(fd, e);
    }
}

nlohmann::json DomainManager::migration_progress(uint32_t domid) const {
    auto md = find(domid);
    if (!md) throw ApiError("ENOENT", "domain '" + std::to_string(domid) + "' does not exist");
    auto m = md->migration.load();
    return m ? m->to_json() : nlohmann::json(nullptr);
}

uint32_t DomainManager::hand_over(int fd, FrozenDomain& frozen) {
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
    state::ReportingSource source(fd);
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
