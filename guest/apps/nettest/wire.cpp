#include "nettest/wire.hpp"

namespace nettest {

bool WireEnd::transmit(const pumice::net::Frame& frame) {
    // An Ethernet header and the largest MTU the interfaces here use.
    uint8_t buf[14 + 1500];
    if (!peer_ || frame.size() > sizeof(buf)) return false;
    size_t len = frame.copy_to(buf, sizeof(buf));
    ++frames_;
    return peer_->receive(buf, len);
}

}  // namespace nettest
