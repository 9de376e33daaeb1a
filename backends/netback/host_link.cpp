#include "backends/netback/host_link.hpp"

namespace xenolith::netback {

void HostLink::set_receiver(Receiver receiver) {
    std::lock_guard lock(mutex_);
    receiver_ = std::move(receiver);
}

void HostLink::deliver(std::span<const uint8_t> frame) {
    std::lock_guard lock(mutex_);
    if (receiver_) receiver_(frame);
}

}  // namespace xenolith::netback
