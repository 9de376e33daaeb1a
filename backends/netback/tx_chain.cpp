#include "backends/netback/tx_chain.hpp"

#include <cstring>

#include "backends/netback/checksum.hpp"
#include "hv/guest_memory.hpp"

namespace xenolith::netback {

namespace {

using Verdict = TxChain::Verdict;

TxChain verdict(TxChain chain, Verdict v, std::string reason = {}) {
    chain.verdict = v;
    chain.reason = std::move(reason);
    return chain;
}

std::string slot_name(size_t i) {
    return "tx slot " + std::to_string(i) + " of a packet";
}

// Reads the extra-info slots after the first one. Returns false (with the verdict set)
// when the chain ends early or is malformed.
bool read_extras(const TxSlotReader& read, uint32_t available, TxChain& chain) {
    bool more = true;
    while (more) {
        uint32_t i = static_cast<uint32_t>(chain.slots.size());
        if (i >= available) {
            chain.verdict = Verdict::Incomplete;
            return false;
        }
        if (i > kMaxTxExtraSlots) {
            chain.verdict = Verdict::Hostile;
            chain.reason = "more than " + std::to_string(kMaxTxExtraSlots) + " extra-info slots";
            return false;
        }
        TxSlot slot{read(i), true, 0};
        netif_extra_info_t extra;
        static_assert(sizeof extra <= sizeof slot.req);  // an extra fills the front of a slot
        std::memcpy(&extra, &slot.req, sizeof extra);
        if (extra.type == XEN_NETIF_EXTRA_TYPE_NONE || extra.type >= XEN_NETIF_EXTRA_TYPE_MAX) {
            chain.verdict = Verdict::Hostile;
            chain.reason = slot_name(i) + ": extra-info type " + std::to_string(extra.type);
            return false;
        }
        // GSO was not offered (feature-gso-tcpv4 0): an honest frontend does not send it.
        if (extra.type == XEN_NETIF_EXTRA_TYPE_GSO && chain.reason.empty())
            chain.reason = "GSO packet, but GSO was not offered";
        more = (extra.flags & XEN_NETIF_EXTRA_FLAG_MORE) != 0;
        chain.slots.push_back(slot);
    }
    return true;
}

// Reads the data slots after the first (and its extras) while NETTXF_more_data says so.
bool read_more_data(const TxSlotReader& read, uint32_t available, TxChain& chain) {
    uint32_t data_slots = 1;
    bool more = (chain.flags & NETTXF_more_data) != 0;
    while (more) {
        uint32_t i = static_cast<uint32_t>(chain.slots.size());
        if (i >= available) {
            chain.verdict = Verdict::Incomplete;
            return false;
        }
        if (++data_slots > kMaxTxDataSlots) {
            chain.verdict = Verdict::Hostile;
            chain.reason = "packet chain longer than " + std::to_string(kMaxTxDataSlots) + " slots";
            return false;
        }
        TxSlot slot{read(i), false, 0};
        slot.length = slot.req.size;
        more = (slot.req.flags & NETTXF_more_data) != 0;
        chain.slots.push_back(slot);
    }
    return true;
}

// Every data slot must lie inside its page: only a broken frontend writes one that does not.
bool check_pages(TxChain& chain) {
    for (size_t i = 0; i < chain.slots.size(); ++i) {
        const TxSlot& s = chain.slots[i];
        if (s.extra) continue;
        if (uint32_t{s.req.offset} + s.length > hv::kPageSize) {
            chain.verdict = Verdict::Hostile;
            chain.reason = slot_name(i) + ": offset " + std::to_string(s.req.offset) + " + size " +
                           std::to_string(s.length) + " is past the page";
            return false;
        }
    }
    return true;
}

}  // namespace

TxChain parse_tx_chain(const TxSlotReader& read, uint32_t available) {
    TxChain chain;
    if (available == 0) return chain;
    TxSlot first{read(0), false, 0};
    chain.flags = first.req.flags;
    chain.size = first.req.size;  // a uint16_t: never more than XEN_NETIF_MAX_TX_SIZE
    chain.slots.push_back(first);
    if ((chain.flags & NETTXF_extra_info) && !read_extras(read, available, chain)) return chain;
    if (!read_more_data(read, available, chain)) return chain;

    // The first slot's size is the packet's; its own bytes are what the others leave.
    uint32_t rest = 0;
    for (size_t i = 1; i < chain.slots.size(); ++i)
        if (!chain.slots[i].extra) rest += chain.slots[i].length;
    if (rest > chain.size) {
        chain.slots[0].length = 0;
        if (!check_pages(chain)) return chain;
        return verdict(std::move(chain), Verdict::Error,
                       "the packet's slots hold " + std::to_string(rest) +
                           " bytes, more than its size " + std::to_string(chain.size));
    }
    chain.slots[0].length = static_cast<uint16_t>(chain.size - rest);
    if (!check_pages(chain)) return chain;
    if (chain.size < kEthHeaderSize)
        return verdict(std::move(chain), Verdict::Error,
                       "a " + std::to_string(chain.size) +
                           "-byte packet is shorter than an "
                           "Ethernet header");
    chain.verdict = chain.reason.empty() ? Verdict::Ok : Verdict::Error;
    return chain;
}

}  // namespace xenolith::netback
