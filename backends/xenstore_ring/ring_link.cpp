#include "backends/xenstore_ring/ring_link.hpp"

#include <poll.h>
#include <unistd.h>

#include "backends/xenstored/ring.hpp"
#include "base/error.hpp"
#include "base/event_fd.hpp"

namespace xenolith::backends {

XenstoreRingLink::XenstoreRingLink(std::shared_ptr<hv::Domain> domain, xenstored::Xenstored& daemon,
                                   uint32_t port, const xenstored::Session* session)
    : channel_(domain, port),
      page_(domain->grant_table().map(GNTTAB_RESERVED_XENSTORE, 0, false)),
      wake_(make_event_fd()),
      stop_(make_event_fd()),
      conn_(daemon, domain->id(), false, [fd = wake_.get()] { signal_event(fd); }) {
    if (!page_)
        throw Error("domain " + std::to_string(domain->id()) +
                    ": the xenstore ring grant cannot be mapped (GNTST " +
                    std::to_string(page_.status()) + ")");
    if (session) conn_.restore_session(*session);
    start();
}

XenstoreRingLink::~XenstoreRingLink() {
    hold();
}

void XenstoreRingLink::start() {
    drain_event(stop_.get());
    thread_ = std::thread([this] { run(); });
}

void XenstoreRingLink::hold() {
    if (!thread_.joinable()) return;
    signal_event(stop_.get());
    thread_.join();
}

void XenstoreRingLink::resume() {
    if (thread_.joinable()) return;
    start();
    signal_event(wake_.get());  // what came while held
}

void XenstoreRingLink::run() {
    pollfd fds[3] = {
        {channel_.fd(), POLLIN, 0}, {wake_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 3, -1) < 0) continue;  // EINTR
        if (fds[2].revents) return;
        channel_.consume();
        drain_event(wake_.get());
        if (broken_.load()) continue;  // a broken ring is not served again
        xenstored::RingPumpResult r = xenstored::pump_ring(page_.writable_page(), conn_);
        if (r.notify) channel_.notify();
        if (r.broken) broken_.store(true);
    }
}

}  // namespace xenolith::backends
