// One domain's console as the daemon serves it (xenconsoled's role): every byte the guest
// writes goes to the domain's log file and to a history buffer, and is streamed to each
// attached `xn console`. A client that attaches late first gets the history, as
// xenconsoled replays its buffer, so `xn create -c` and a later `xn console` both see the
// boot messages.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.hpp"

namespace xenolith::daemon {

class ConsoleHub {
public:
    // History kept for late attachers; older output is only in the log file.
    static constexpr size_t kHistoryBytes = 64 * 1024;

    // Appends to `log_path` (created 0640) when it is not empty. Throws SystemError.
    explicit ConsoleHub(const std::string& log_path);
    ConsoleHub(const ConsoleHub&) = delete;
    ConsoleHub& operator=(const ConsoleHub&) = delete;

    // Guest output (console backend and console_io threads).
    void output(std::string_view bytes);
    // The domain is gone: attached readers see the end after the last output.
    void close();

    // A reader's view: bytes from `offset` (an absolute count of bytes ever written) and
    // where to continue. Output older than the history is skipped (`skipped` > 0).
    struct Chunk {
        std::string bytes;
        uint64_t next = 0;
        uint64_t skipped = 0;
        bool closed = false;
    };
    // The first offset a new reader should ask for: the start of the history.
    uint64_t history_start() const;
    Chunk read_from(uint64_t offset) const;
    // An eventfd that becomes readable when output arrives or the hub closes; each reader
    // gets its own (one reader draining it must not starve another).
    UniqueFd subscribe();
    void unsubscribe(int event_fd);

private:
    void notify_locked();

    mutable std::mutex mutex_;
    UniqueFd log_;
    std::string history_;  // the last kHistoryBytes bytes at most
    uint64_t total_ = 0;   // bytes ever written; history_ ends here
    bool closed_ = false;
    std::vector<int> subscribers_;  // eventfds owned by the readers
};

}  // namespace xenolith::daemon
