// The guest side of xenstore: a struct xenstore_domain_interface in a page the guest shares,
// plus an event channel. pump_ring() is one pass of the daemon's ring pump over that page:
// requests from req[] into a Connection, replies and watch events from it into rsp[]. It
// touches nothing but the page span and the connection, so the hypervisor side only has to
// map the page, call this when the event channel fires or the connection wakes, and kick
// the guest when it says so.
//
// The indices are written by the guest and are hostile: a producer more than a ring ahead
// of its consumer marks the ring broken (error = XENSTORE_ERROR_RINGIDX) and nothing more
// is moved. Every byte is copied out of the shared page once before it is parsed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "backends/xenstored/connection.hpp"
#include "backends/xenstored/wire.hpp"

namespace xenolith::xenstored {

struct RingPumpResult {
    bool notify = false;  // indices moved: signal the guest's event channel
    bool broken = false;  // hostile indices or a protocol violation: stop serving this ring
};

// `page` must hold a whole struct xenstore_domain_interface, suitably aligned.
RingPumpResult pump_ring(std::span<uint8_t> page, Connection& conn);

}  // namespace xenolith::xenstored
