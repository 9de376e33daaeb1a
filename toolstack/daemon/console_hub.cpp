#include "toolstack/daemon/console_hub.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/error.hpp"

namespace xenolith::daemon {

ConsoleHub::ConsoleHub(const std::string& log_path) {
    if (log_path.empty()) return;
    log_.reset(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!log_) throw SystemError("cannot open the console log " + log_path, errno);
}

void ConsoleHub::output(std::string_view bytes) {
    if (bytes.empty()) return;
    std::lock_guard lock(mutex_);
    if (log_) {
        // A full disk loses log lines, never guest progress.
        ssize_t rc = ::write(log_.get(), bytes.data(), bytes.size());
        (void)rc;
    }
    history_.append(bytes);
    if (history_.size() > kHistoryBytes) history_.erase(0, history_.size() - kHistoryBytes);
    total_ += bytes.size();
    notify_locked();
}

void ConsoleHub::close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    notify_locked();
}

uint64_t ConsoleHub::history_start() const {
    std::lock_guard lock(mutex_);
    return total_ - history_.size();
}

ConsoleHub::Chunk ConsoleHub::read_from(uint64_t offset) const {
    std::lock_guard lock(mutex_);
    Chunk c;
    uint64_t first = total_ - history_.size();
    if (offset < first) {
        c.skipped = first - offset;
        offset = first;
    }
    offset = std::min(offset, total_);
    c.bytes = history_.substr(static_cast<size_t>(offset - first));
    c.next = total_;
    c.closed = closed_;
    return c;
}

UniqueFd ConsoleHub::subscribe() {
    UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!fd) throw SystemError("console: eventfd", errno);
    std::lock_guard lock(mutex_);
    subscribers_.push_back(fd.get());
    if (closed_ || total_ > 0) {
        uint64_t one = 1;
        ssize_t rc = ::write(fd.get(), &one, sizeof one);
        (void)rc;
    }
    return fd;
}

void ConsoleHub::unsubscribe(int event_fd) {
    std::lock_guard lock(mutex_);
    std::erase(subscribers_, event_fd);
}

void ConsoleHub::notify_locked() {
    uint64_t one = 1;
    for (int fd : subscribers_) {
        ssize_t rc = ::write(fd, &one, sizeof one);  // EAGAIN: already signalled
        (void)rc;
    }
}

}  // namespace xenolith::daemon
