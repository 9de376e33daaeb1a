#include "toolstack/xn/stdin_forwarder.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/error.hpp"

namespace xenolith::xn {

StdinForwarder::StdinForwarder(backends::ConsoleBackend& console)
    : console_(console),
      stop_(static_cast<int>(check_syscall(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd"))),
      thread_([this] { run(); }) {}

StdinForwarder::~StdinForwarder() {
    uint64_t one = 1;
    ssize_t rc = ::write(stop_.get(), &one, sizeof one);
    (void)rc;
    thread_.join();
}

void StdinForwarder::run() {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    char buf[4096];
    for (;;) {
        if (::poll(fds, 2, -1) < 0) continue;  // EINTR
        if (fds[1].revents) return;
        if (!(fds[0].revents & (POLLIN | POLLHUP))) return;  // POLLNVAL: no stdin at all
        ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n <= 0) return;  // end of input: the guest just gets no more
        console_.input({buf, static_cast<size_t>(n)});
    }
}

}  // namespace xenolith::xn
