// Eventfds as wake-up signals between threads (and from signal handlers): non-blocking and
// close-on-exec. One place for what every backend thread's poll loop needs.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "base/error.hpp"
#include "base/unique_fd.hpp"

namespace xenolith {

// Throws SystemError when the kernel refuses.
inline UniqueFd make_event_fd() {
    return UniqueFd(
        static_cast<int>(check_syscall(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")));
}

// Adds one (async-signal-safe). The counter cannot overflow in practice; a full one is
// still readable, which is all a waiter needs.
inline void signal_event(int fd) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t rc = ::write(fd, &one, sizeof one);
}

// Takes the count (0 when none was pending).
inline uint64_t drain_event(int fd) {
    uint64_t count = 0;
    return ::read(fd, &count, sizeof count) == sizeof count ? count : 0;
}

}  // namespace xenolith
