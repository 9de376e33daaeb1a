// The guest→host half of netif, as pure functions: how one packet's chain of tx ring slots
// is read and checked, before any grant is touched. A packet is a first slot (whose size
// is the whole packet's), optional extra-info slots (NETTXF_extra_info, chained by
// XEN_NETIF_EXTRA_FLAG_MORE), then more data slots while NETTXF_more_data is set.
//
// Everything comes from the guest. The verdict separates what an honest frontend could
// send and deserves an error response (a runt frame, GSO we did not offer) from what only
// a broken or hostile one produces (a slot past its page, an endless chain): the latter
// disconnects the device.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backends/netback/netif.hpp"

namespace xenolith::netback {

// Linux's netfront never uses more slots for one packet (XEN_NETIF_NR_SLOTS_MIN).
inline constexpr uint32_t kMaxTxDataSlots = XEN_NETIF_NR_SLOTS_MIN;
// At most one extra of each type.
inline constexpr uint32_t kMaxTxExtraSlots = XEN_NETIF_EXTRA_TYPE_MAX - 1;

struct TxSlot {
    netif_tx_request_t req{};
    bool extra = false;   // an extra-info slot: answered with NETIF_RSP_NULL
    uint16_t length = 0;  // data slots: the bytes this slot carries (the first slot's is
                          // its size minus the rest of the chain)
};

struct TxChain {
    enum class Verdict {
        Incomplete,  // the chain goes on past the producer: wait for the rest
        Ok,          // deliver the packet
        Error,       // answer every data slot NETIF_RSP_ERROR and carry on
        Hostile,     // disconnect
    };
    Verdict verdict = Verdict::Incomplete;
    std::vector<TxSlot> slots;  // every ring slot of the packet, in ring order
    uint16_t flags = 0;         // the first slot's NETTXF_*
    uint32_t size = 0;          // the packet's length (the first slot's size)
    std::string reason;         // Error and Hostile: why, naming the slot
};

// Reads slot `i` (0 = the first unconsumed) of the ring: a copy, so that what is checked
// is what is used.
using TxSlotReader = std::function<netif_tx_request_t(uint32_t i)>;

// Parses the packet at the head of `available` unconsumed slots.
TxChain parse_tx_chain(const TxSlotReader& read, uint32_t available);

}  // namespace xenolith::netback
