#include "backends/xenstored/ring.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace xenolith::xenstored {

namespace {

// Indices shared with another CPU: loads of the other side's index acquire (the data it
// published before moving the index is visible), our stores release (our data is visible
// before the index moves).
uint32_t load_acquire(const XENSTORE_RING_IDX& idx) {
    return __atomic_load_n(&idx, __ATOMIC_ACQUIRE);
}
void store_release(XENSTORE_RING_IDX& idx, uint32_t value) {
    __atomic_store_n(&idx, value, __ATOMIC_RELEASE);
}

// Copies `len` bytes starting at ring index `idx` out of `ring`, wrapping.
void copy_from_ring(const char* ring, uint32_t idx, uint8_t* dst, size_t len) {
    size_t off = MASK_XENSTORE_IDX(idx);
    size_t first = std::min(len, XENSTORE_RING_SIZE - off);
    std::memcpy(dst, ring + off, first);
    std::memcpy(dst + first, ring, len - first);
}

void copy_to_ring(char* ring, uint32_t idx, const uint8_t* src, size_t len) {
    size_t off = MASK_XENSTORE_IDX(idx);
    size_t first = std::min(len, XENSTORE_RING_SIZE - off);
    std::memcpy(ring + off, src, first);
    std::memcpy(ring, src + first, len - first);
}

}  // namespace

RingPumpResult pump_ring(std::span<uint8_t> page, Connection& conn) {
    RingPumpResult result;
    if (page.size() < sizeof(xenstore_domain_interface) ||
        reinterpret_cast<uintptr_t>(page.data()) % alignof(xenstore_domain_interface) != 0) {
        result.broken = true;
        return result;
    }
    auto* intf = reinterpret_cast<xenstore_domain_interface*>(page.data());
    std::array<uint8_t, XENSTORE_RING_SIZE> buf;

    for (bool progress = true; progress;) {
        progress = false;
        // Requests: the guest produces, we consume.
        uint32_t req_cons = intf->req_cons;
        uint32_t req_prod = load_acquire(intf->req_prod);
        if (req_prod - req_cons > XENSTORE_RING_SIZE) {
            intf->error = XENSTORE_ERROR_RINGIDX;
            result.broken = true;
            return result;
        }
        if (size_t avail = req_prod - req_cons; avail > 0 && conn.wants_input()) {
            copy_from_ring(intf->req, req_cons, buf.data(), avail);
            size_t used = conn.feed(std::span<const uint8_t>(buf.data(), avail));
            if (used > 0) {
                store_release(intf->req_cons, req_cons + static_cast<uint32_t>(used));
                result.notify = progress = true;
            }
        }
        if (conn.closed()) {
            intf->error = XENSTORE_ERROR_PROTO;
            result.broken = true;
            return result;
        }
        // Responses: we produce, the guest consumes.
        uint32_t rsp_cons = load_acquire(intf->rsp_cons);
        uint32_t rsp_prod = intf->rsp_prod;
        if (rsp_prod - rsp_cons > XENSTORE_RING_SIZE) {
            intf->error = XENSTORE_ERROR_RINGIDX;
            result.broken = true;
            return result;
        }
        size_t space = XENSTORE_RING_SIZE - (rsp_prod - rsp_cons);
        if (space > 0) {
            size_t len = conn.copy_output(std::span<uint8_t>(buf.data(), space));
            if (len > 0) {
                copy_to_ring(intf->rsp, rsp_prod, buf.data(), len);
                store_release(intf->rsp_prod, rsp_prod + static_cast<uint32_t>(len));
                conn.consume_output(len);
                result.notify = progress = true;
            }
        }
    }
    return result;
}

}  // namespace xenolith::xenstored
