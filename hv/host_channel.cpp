#include "hv/host_channel.hpp"

#include <unistd.h>

#include "base/error.hpp"

namespace xenolith::hv {

HostChannel::HostChannel(std::shared_ptr<Domain> domain, uint32_t guest_port)
    : domain_(std::move(domain)), port_(guest_port) {
    long rc = domain_->evtchn().bind_host(port_, endpoint_);
    if (rc < 0)
        throw Error("domain " + std::to_string(domain_->id()) + ": event channel port " +
                    std::to_string(port_) + " is not offered to the host (error " +
                    std::to_string(rc) + ")");
}

HostChannel::~HostChannel() { domain_->evtchn().unbind_host(port_, *endpoint_); }

uint64_t HostChannel::consume() {
    uint64_t count = 0;
    if (::read(fd(), &count, sizeof count) != sizeof count) return 0;
    return count;
}

void HostChannel::notify() { domain_->evtchn().notify_from_host(port_, *endpoint_); }

}  // namespace xenolith::hv
