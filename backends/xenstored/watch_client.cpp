#include "backends/xenstored/watch_client.hpp"

#include <poll.h>

#include <cerrno>
#include <cstring>

#include "backends/xenstored/wire.hpp"
#include "backends/xenstored/xenstored.hpp"
#include "base/error.hpp"
#include "base/event_fd.hpp"

namespace xenolith::xenstored {
namespace {

std::string with_nul(std::string_view s) {
    return std::string(s) + '\0';
}

}  // namespace

WatchHandle::WatchHandle(WatchHandle&& o) noexcept
    : client_(std::exchange(o.client_, nullptr)), token_(o.token_) {}

WatchHandle& WatchHandle::operator=(WatchHandle&& o) noexcept {
    if (this != &o) {
        reset();
        client_ = std::exchange(o.client_, nullptr);
        token_ = o.token_;
    }
    return *this;
}

void WatchHandle::reset() {
    if (client_) std::exchange(client_, nullptr)->unwatch(token_);
}

WatchClient::WatchClient(Xenstored& daemon)
    : wake_(make_event_fd()),
      stop_(make_event_fd()),
      conn_(daemon, 0, true, [fd = wake_.get()] { signal_event(fd); }),
      thread_([this] { run(); }) {}

WatchClient::~WatchClient() {
    signal_event(stop_.get());
    thread_.join();
}

std::optional<std::string> WatchClient::collect_locked(uint32_t req_id, uint32_t* type) {
    std::string out = conn_.take_output();
    std::optional<std::string> reply;
    std::string_view bytes = out;
    std::vector<Event> events;
    while (bytes.size() >= kHeaderSize) {
        xsd_sockmsg h;
        std::memcpy(&h, bytes.data(), kHeaderSize);
        std::string_view payload = bytes.substr(kHeaderSize, h.len);
        bytes.remove_prefix(std::min(bytes.size(), kHeaderSize + h.len));
        if (h.type == XS_WATCH_EVENT) {
            auto strings = split_strings(payload);
            if (strings.size() < 2) continue;
            auto token = parse_decimal(strings[1], UINT64_MAX);
            if (token) events.push_back({*token, std::string(strings[0])});
        } else if (h.req_id == req_id && req_id != 0) {
            *type = h.type;
            reply = std::string(payload);
        }
    }
    if (!events.empty()) {
        std::lock_guard lock(mutex_);
        for (auto& e : events) events_.push_back(std::move(e));
    }
    return reply;
}

std::string WatchClient::request(uint32_t type, std::string_view payload, uint32_t tx) {
    std::unique_lock lock(conn_mutex_);
    const uint32_t id = ++next_req_id_ == 0 ? ++next_req_id_ : next_req_id_;
    std::string msg = encode_message(type, id, tx, payload);
    if (conn_.feed(msg) != msg.size())
        throw Error("xenstore " + std::string(type_name(type)) + ": request not taken");
    uint32_t reply_type = 0;
    auto reply = collect_locked(id, &reply_type);
    lock.unlock();
    // Events taken out with the reply are dispatched by the watch thread: the connection
    // signalled it when they were queued.
    if (!reply) throw Error("xenstore " + std::string(type_name(type)) + ": no reply");
    if (reply_type == XS_ERROR) {
        auto strings = split_strings(payload);
        std::string path(strings.empty() ? std::string_view() : strings[0]);
        if (!reply->empty() && reply->back() == '\0') reply->pop_back();
        throw Error("xenstore " + std::string(type_name(type)) + " " + path + ": " + *reply);
    }
    return *reply;
}

std::string WatchClient::read(std::string_view path, uint32_t tx) {
    return request(XS_READ, with_nul(path), tx);
}

std::optional<std::string> WatchClient::try_read(std::string_view path, uint32_t tx) {
    try {
        return read(path, tx);
    } catch (const Error& e) {
        if (std::string_view(e.what()).ends_with(": ENOENT")) return std::nullopt;
        throw;
    }
}

void WatchClient::write(std::string_view path, std::string_view value, uint32_t tx) {
    request(XS_WRITE, with_nul(path) + std::string(value), tx);
}

void WatchClient::mkdir(std::string_view path, uint32_t tx) {
    request(XS_MKDIR, with_nul(path), tx);
}

void WatchClient::rm(std::string_view path, uint32_t tx) {
    request(XS_RM, with_nul(path), tx);
}

std::vector<std::string> WatchClient::directory(std::string_view path, uint32_t tx) {
    std::string reply = request(XS_DIRECTORY, with_nul(path), tx);
    std::vector<std::string> names;
    for (auto s : split_strings(reply)) names.emplace_back(s);
    return names;
}

void WatchClient::set_perms(std::string_view path, std::initializer_list<std::string_view> perms,
                            uint32_t tx) {
    std::string payload = with_nul(path);
    for (auto p : perms) payload += with_nul(p);
    request(XS_SET_PERMS, payload, tx);
}

uint32_t WatchClient::transaction_start() {
    std::string reply = request(XS_TRANSACTION_START, with_nul(""));
    auto id =
        parse_decimal(split_strings(reply).empty() ? "" : split_strings(reply)[0], UINT32_MAX);
    if (!id) throw Error("xenstore TRANSACTION_START: bad reply");
    return static_cast<uint32_t>(*id);
}

bool WatchClient::transaction_end(uint32_t tx, bool commit) {
    try {
        request(XS_TRANSACTION_END, with_nul(commit ? "T" : "F"), tx);
        return true;
    } catch (const Error& e) {
        if (std::string_view(e.what()).ends_with(": EAGAIN")) return false;
        throw;
    }
}

WatchHandle WatchClient::watch(std::string path, Callback callback) {
    uint64_t token;
    {
        std::lock_guard lock(mutex_);
        token = next_token_++;
        entries_[token] = {path, std::make_shared<Callback>(std::move(callback))};
    }
    try {
        request(XS_WATCH, with_nul(path) + with_nul(std::to_string(token)));
    } catch (...) {
        std::lock_guard lock(mutex_);
        entries_.erase(token);
        throw;
    }
    return WatchHandle(this, token);
}

void WatchClient::unwatch(uint64_t token) {
    std::string path;
    {
        std::unique_lock lock(mutex_);
        auto it = entries_.find(token);
        if (it == entries_.end()) return;
        path = it->second.path;
        entries_.erase(it);
        if (!on_watch_thread()) idle_.wait(lock, [&] { return running_ != token; });
    }
    try {
        request(XS_UNWATCH, with_nul(path) + with_nul(std::to_string(token)));
    } catch (const Error&) {
        // The watch is gone from our table: a late event finds no callback and is dropped.
    }
}

void WatchClient::dispatch_pending() {
    std::unique_lock lock(mutex_);
    while (!events_.empty()) {
        Event e = std::move(events_.front());
        events_.pop_front();
        auto it = entries_.find(e.token);
        if (it == entries_.end()) continue;
        auto callback = it->second.callback;
        running_ = e.token;
        lock.unlock();
        (*callback)(e.path);
        lock.lock();
        running_ = 0;
        idle_.notify_all();
    }
}

void WatchClient::run() {
    pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
        if (fds[1].revents) return;
        if (fds[0].revents) {
            drain_event(wake_.get());
            uint32_t type = 0;
            {
                std::lock_guard lock(conn_mutex_);
                collect_locked(0, &type);
            }
            dispatch_pending();
        }
    }
}

}  // namespace xenolith::xenstored
