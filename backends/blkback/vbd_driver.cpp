#include "backends/blkback/vbd_driver.hpp"

#include <unistd.h>

#include <cerrno>

#include "base/error.hpp"

namespace xenolith::blkback {

namespace {

void add(BlkConnection::Stats& into, const BlkConnection::Stats& s) {
    into.requests += s.requests;
    into.reads += s.reads;
    into.writes += s.writes;
    into.flushes += s.flushes;
    into.discards += s.discards;
    into.bytes_read += s.bytes_read;
    into.bytes_written += s.bytes_written;
    into.errors += s.errors;
}

}  // namespace

VbdDriver::VbdDriver(std::shared_ptr<hv::Domain> domain, std::shared_ptr<Image> image,
                     BlkConnection::Options opts, std::string name)
    : domain_(std::move(domain)),
      image_(std::move(image)),
      opts_(std::move(opts)),
      name_(std::move(name)) {
    opts_.on_broken = [this](const std::string& reason) { failed(reason); };
}

VbdDriver::~VbdDriver() {
    disconnect();
}

std::vector<std::pair<std::string, std::string>> VbdDriver::features() {
    return BlkConnection::backend_features(*image_, opts_);
}

FrontendRing VbdDriver::read_frontend(const backends::xenbus::FrontendNodes& fe,
                                      uint32_t max_ring_page_order) {
    FrontendRing ring;
    const uint64_t order = fe.number("ring-page-order", max_ring_page_order, 0);
    if (order == 0 && fe.read("ring-ref")) {
        ring.refs.push_back(static_cast<grant_ref_t>(fe.number("ring-ref", UINT32_MAX)));
    } else {
        for (uint32_t i = 0; i < (1u << order); ++i)
            ring.refs.push_back(
                static_cast<grant_ref_t>(fe.number("ring-ref" + std::to_string(i), UINT32_MAX)));
    }
    ring.port = static_cast<uint32_t>(fe.number("event-channel", UINT32_MAX));
    ring.persistent = fe.number("feature-persistent", 1, 0) == 1;
    ring.protocol = fe.read("protocol").value_or("");
    return ring;
}

void VbdDriver::connect(const backends::xenbus::FrontendNodes& frontend) {
    FrontendRing ring = read_frontend(frontend, opts_.max_ring_page_order);
    auto conn = std::make_unique<BlkConnection>(domain_, image_, ring, opts_, name_);
    std::lock_guard lock(mutex_);
    conn_ = std::move(conn);
    ring_ = std::move(ring);
}

void VbdDriver::disconnect() {
    std::unique_ptr<BlkConnection> conn;
    {
        std::lock_guard lock(mutex_);
        conn.swap(conn_);
        ring_.reset();
        if (!conn) return;
    }
    conn->stop();
    std::lock_guard lock(mutex_);
    add(past_, conn->stats());
}

void VbdDriver::quiesce() {
    std::unique_ptr<BlkConnection> conn;
    {
        std::lock_guard lock(mutex_);
        conn.swap(conn_);
    }
    if (conn) {
        conn->stop();  // what it took is answered; the rest waits in the ring
        std::lock_guard lock(mutex_);
        add(past_, conn->stats());
    }
    conn.reset();  // the ring unmapped, the port unbound: the restored backend binds it
    // Whatever the guest was told is written is on the disk before the save completes.
    if (::fdatasync(image_->fd()) != 0 && errno != EINVAL)
        throw SystemError(name_ + ": flushing the image before the save", errno);
}

void VbdDriver::resume() {
    std::lock_guard lock(mutex_);
    if (conn_ || !ring_) return;
    conn_ = std::make_unique<BlkConnection>(domain_, image_, *ring_, opts_, name_);
}

BlkConnection::Stats VbdDriver::stats() const {
    std::lock_guard lock(mutex_);
    BlkConnection::Stats s = past_;
    if (conn_) add(s, conn_->stats());
    return s;
}

bool VbdDriver::connected() const {
    std::lock_guard lock(mutex_);
    return conn_ != nullptr;
}

}  // namespace xenolith::blkback
