#include "backends/xenstore_ring/ring_link.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backends/xenstored/ring.hpp"
#include "base/error.hpp"

namespace xenolith::backends {

namespace {
UniqueFd make_eventfd() {
    return UniqueFd(static_cast<int>(check_syscall(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")));
}
void signal(int fd) {
    uint64_t one = 1;
    ssize_t rc = ::write(fd, &one, sizeof one);
    (void)rc;  // EAGAIN: already signalled
}
void drain(int fd) {
    uint64_t count;
    ssize_t rc = ::read(fd, &count, sizeof count);
    (void)rc;
}
}  // namespace

XenstoreRingLink::XenstoreRingLink(std::shared_ptr<hv::Domain> domain, xenstored::Xenstored& daemon,
                                   uint32_t port, const xenstored::Session* session)
    : channel_(domain, port),
      page_(domain->grant_table().map(GNTTAB_RESERVED_XENSTORE, 0, false)),
      wake_(make_eventfd()),
      stop_(make_eventfd()),
      conn_(daemon, domain->id(), false, [fd = wake_.get()] { signal(fd); }) {
    if (!page_)
        throw Error("domain " + std::to_string(domain->id()) +
                    ": the xenstore ring grant cannot be mapped (GNTST " + std::to_string(page_.status()) + ")");
    if (session) conn_.restore_session(*session);
    start();
}

XenstoreRingLink::~XenstoreRingLink() {
    hold();
}

void XenstoreRingLink::start() {
    drain(stop_.get());
    thread_ = std::thread([this] { run(); });
}

void XenstoreRingLink::hold() {
    if (!thread_.joinable()) return;
    signal(stop_.get());
    thread_.join();
}

void XenstoreRingLink::resume() {
    if (thread_.joinable()) return;
    start();
    signal(wake_.get());  // what came while held
}

void XenstoreRingLink::run() {
    pollfd fds[3] = {{channel_.fd(), POLLIN, 0}, {wake_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 3, -1) < 0) continue;  // EINTR
        if (fds[2].revents) return;
        channel_.consume();
        drain(wake_.get());
        if (broken_.load()) continue;  // a broken ring is not served again
        xenstored::RingPumpResult r = xenstored::pump_ring(page_.writable_page(), conn_);
        if (r.notify) channel_.notify();
        if (r.broken) broken_.store(true);
    }
}

}  // namespace xenolith::backends
