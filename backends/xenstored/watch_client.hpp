// A privileged client inside the hypervisor process that can also watch: what a backend
// driver needs (libxenstore's xs handle with xs_watch, to a dom0 backend). Requests are
// synchronous and may come from any thread, the watch thread included; watch events run
// their callbacks on the client's own thread, one at a time, in the order they fired.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backends/xenstored/connection.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::xenstored {

class Xenstored;
class WatchClient;

// A watch while it lives: destroying it unwatches, and waits for a callback of this watch
// that is running on another thread (never for one running on the calling thread).
class WatchHandle {
  public:
    WatchHandle() = default;
    WatchHandle(WatchHandle&& o) noexcept;
    WatchHandle& operator=(WatchHandle&& o) noexcept;
    WatchHandle(const WatchHandle&) = delete;
    WatchHandle& operator=(const WatchHandle&) = delete;
    ~WatchHandle() { reset(); }
    void reset();
    explicit operator bool() const { return client_ != nullptr; }

  private:
    friend class WatchClient;
    WatchHandle(WatchClient* client, uint64_t token) : client_(client), token_(token) {}
    WatchClient* client_ = nullptr;
    uint64_t token_ = 0;
};

class WatchClient {
  public:
    // Called with the path that changed (at or below the watched path).
    using Callback = std::function<void(std::string_view path)>;

    explicit WatchClient(Xenstored& daemon);
    // Every WatchHandle of this client must be gone first (they point back at it).
    ~WatchClient();
    WatchClient(const WatchClient&) = delete;
    WatchClient& operator=(const WatchClient&) = delete;

    // The reply's payload; throws Error "xenstore <OP> <path>: <ERRNAME>" on XS_ERROR.
    std::string request(uint32_t type, std::string_view payload, uint32_t tx = 0);
    std::string read(std::string_view path, uint32_t tx = 0);
    // nullopt when the node does not exist (ENOENT); other errors throw.
    std::optional<std::string> try_read(std::string_view path, uint32_t tx = 0);
    void write(std::string_view path, std::string_view value, uint32_t tx = 0);
    void mkdir(std::string_view path, uint32_t tx = 0);
    void rm(std::string_view path, uint32_t tx = 0);
    std::vector<std::string> directory(std::string_view path, uint32_t tx = 0);
    void set_perms(std::string_view path, std::initializer_list<std::string_view> perms,
                   uint32_t tx = 0);
    uint32_t transaction_start();
    // False when the commit conflicted (EAGAIN) and nothing was changed.
    bool transaction_end(uint32_t tx, bool commit);

    // Fires once soon after it is set (as xenstored does) and on every change below `path`.
    [[nodiscard]] WatchHandle watch(std::string path, Callback callback);

    // Whether the calling thread is this client's watch thread.
    bool on_watch_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

  private:
    friend class WatchHandle;
    struct Entry {
        std::string path;
        std::shared_ptr<Callback> callback;
    };
    struct Event {
        uint64_t token;
        std::string path;
    };

    void unwatch(uint64_t token);
    void run();
    // Takes the connection's output: events are queued, the reply to `req_id` returned.
    std::optional<std::string> collect_locked(uint32_t req_id, uint32_t* type);
    void dispatch_pending();

    std::mutex conn_mutex_;  // conn_, next_req_id_: one request at a time on the wire
    UniqueFd wake_;
    UniqueFd stop_;
    Connection conn_;
    uint32_t next_req_id_ = 0;

    std::mutex mutex_;  // entries_, events_, running_
    std::condition_variable idle_;
    std::map<uint64_t, Entry> entries_;
    std::deque<Event> events_;
    uint64_t next_token_ = 1;
    uint64_t running_ = 0;  // the token whose callback runs now, 0 if none
    std::thread thread_;
};

}  // namespace xenolith::xenstored
