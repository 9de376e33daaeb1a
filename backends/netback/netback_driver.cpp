#include "backends/netback/netback_driver.hpp"

#include "base/error.hpp"

namespace xenolith::netback {

NetbackDriver::NetbackDriver(std::shared_ptr<hv::Domain> domain, std::unique_ptr<HostLink> link,
                             Fail fail)
    : domain_(std::move(domain)), link_(std::move(link)), fail_(std::move(fail)) {
    if (!link_) throw Error("netback: no host link");
    reporter_ = std::thread([this] { run_reporter(); });
}

NetbackDriver::~NetbackDriver() {
    disconnect();
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    reports_changed_.notify_all();
    reporter_.join();
}

std::vector<std::pair<std::string, std::string>> NetbackDriver::features() {
    return {{"feature-sg", "1"},
            {"feature-rx-copy", "1"},
            {"feature-rx-flip", "0"},
            {"feature-gso-tcpv4", "0"},
            {"feature-gso-tcpv6", "0"},
            {"feature-ipv6-csum-offload", "1"},
            {"feature-multicast-control", "0"}};
}

NetFrontend NetbackDriver::read_frontend(const backends::xenbus::FrontendNodes& fe) {
    NetFrontend f;
    f.tx_ring_ref = static_cast<grant_ref_t>(fe.number("tx-ring-ref", UINT32_MAX));
    f.rx_ring_ref = static_cast<grant_ref_t>(fe.number("rx-ring-ref", UINT32_MAX));
    if (fe.read("event-channel-tx") && !fe.read("event-channel"))
        throw Error("frontend asks for split event channels, which were not offered");
    f.port = static_cast<uint32_t>(fe.number("event-channel", UINT32_MAX));
    // Page flipping went out with Linux 2.6.x; every frontend since copies.
    if (fe.number("request-rx-copy", 1, 0) != 1)
        throw Error(
            "frontend wants rx page flipping (request-rx-copy is not 1); only rx copy "
            "is supported");
    f.sg = fe.number("feature-sg", 1, 0) == 1;
    f.rx_notify = fe.number("feature-rx-notify", 1, 0) == 1;
    f.no_csum_offload = fe.number("feature-no-csum-offload", 1, 0) == 1;
    if (fe.number("multi-queue-num-queues", 1, 1) != 1)
        throw Error("frontend asks for several queues, which were not offered");
    return f;
}

void NetbackDriver::connect(const backends::xenbus::FrontendNodes& frontend) {
    NetFrontend f = read_frontend(frontend);
    std::lock_guard lock(mutex_);
    connect_locked(f);
}

void NetbackDriver::connect_locked(const NetFrontend& f) {
    if (connection_) return;
    NetConnection::Options opts;
    opts.on_broken = [this](const std::string& reason) { report(reason); };
    connection_ = std::make_unique<NetConnection>(domain_, f, *link_, std::move(opts));
    NetConnection* c = connection_.get();
    link_->set_receiver([c](std::span<const uint8_t> frame) { c->receive(frame); });
}

void NetbackDriver::disconnect() {
    std::unique_ptr<NetConnection> gone;
    {
        std::lock_guard lock(mutex_);
        quiesced_.reset();
        if (!connection_) return;
        gone = std::move(connection_);
    }
    // Detach first: once set_receiver returns, the link no longer calls into `gone`.
    link_->set_receiver({});
    NetStats s = gone->stats();
    gone.reset();  // joins the ring thread, drops the rings and the channel
    std::lock_guard lock(mutex_);
    past_ += s;
}

void NetbackDriver::quiesce() {
    std::optional<NetFrontend> f;
    {
        std::lock_guard lock(mutex_);
        if (connection_) f = connection_->frontend();
    }
    disconnect();  // the ring thread ends between rounds: every request it took is answered
    std::lock_guard lock(mutex_);
    quiesced_ = std::move(f);
}

void NetbackDriver::resume() {
    std::lock_guard lock(mutex_);
    if (!quiesced_) return;
    const NetFrontend f = *std::exchange(quiesced_, std::nullopt);
    connect_locked(f);
}

void NetbackDriver::set_fail(Fail fail) {
    std::lock_guard lock(mutex_);
    fail_ = std::move(fail);
}

NetStats NetbackDriver::stats() const {
    std::lock_guard lock(mutex_);
    NetStats s = past_;
    if (connection_) s += connection_->stats();
    return s;
}

bool NetbackDriver::connected() const {
    std::lock_guard lock(mutex_);
    return connection_ && !connection_->broken();
}

void NetbackDriver::report(const std::string& reason) {
    {
        std::lock_guard lock(mutex_);
        reports_.push_back(reason);
    }
    reports_changed_.notify_all();
}

void NetbackDriver::run_reporter() {
    std::unique_lock lock(mutex_);
    for (;;) {
        reports_changed_.wait(lock, [&] { return stopping_ || !reports_.empty(); });
        if (reports_.empty()) return;  // stopping, nothing left to say
        std::string reason = std::move(reports_.front());
        reports_.pop_front();
        Fail fail = fail_;
        lock.unlock();
        // Without a hook of its own, the report goes to the BackendDevice's (Driver::failed).
        if (fail)
            fail(reason);
        else
            failed(reason);
        lock.lock();
    }
}

}  // namespace xenolith::netback
