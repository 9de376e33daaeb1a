// Arbitrary bytes as a netif tx ring's unconsumed slots, parsed packet after packet as
// netback's ring thread does, then the packet's bytes (taken from the input again) through
// checksum completion. Every verdict must keep netback's promises: a delivered packet's
// slots lie inside their pages and add up to its size, no packet reaches past the producer,
// and a hostile chain stops the ring. A crash, a trap or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backends/netback/checksum.hpp"
#include "backends/netback/tx_chain.hpp"

using namespace xenolith::netback;

namespace {

constexpr uint32_t kRingSize = 256;

void check_packet(const TxChain& chain, uint32_t available) {
    if (chain.slots.size() > available) __builtin_trap();
    uint32_t total = 0, data = 0;
    for (const TxSlot& s : chain.slots) {
        if (s.extra) continue;
        ++data;
        if (uint32_t{s.req.offset} + s.length > 4096) __builtin_trap();
        total += s.length;
    }
    if (data == 0 || data > kMaxTxDataSlots || total != chain.size) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<netif_tx_request_t> ring(
        std::min<size_t>(size / sizeof(netif_tx_request_t), kRingSize));
    std::memcpy(ring.data(), data, ring.size() * sizeof(netif_tx_request_t));
    uint32_t cons = 0;
    while (cons < ring.size()) {
        uint32_t available = static_cast<uint32_t>(ring.size()) - cons;
        TxChain chain = parse_tx_chain([&](uint32_t i) { return ring.at(cons + i); }, available);
        if (chain.verdict == TxChain::Verdict::Incomplete ||
            chain.verdict == TxChain::Verdict::Hostile)
            break;
        if (chain.slots.empty() || chain.slots.size() > available) __builtin_trap();
        if (chain.verdict == TxChain::Verdict::Ok) {
            check_packet(chain, available);
            // The packet's bytes: the input itself, repeated, as the granted pages' contents.
            std::vector<uint8_t> frame(chain.size);
            for (size_t i = 0; i < frame.size() && size > 0; ++i) frame[i] = data[i % size];
            if (chain.flags & NETTXF_csum_blank) {
                if (complete_l4_checksum(frame) && !l4_checksum_ok(frame)) __builtin_trap();
            }
        }
        cons += static_cast<uint32_t>(chain.slots.size());
    }
    // The raw input as a frame, too: completion either refuses or yields a valid checksum.
    std::vector<uint8_t> frame(data, data + size);
    if (complete_l4_checksum(frame) && !l4_checksum_ok(frame)) __builtin_trap();
    return 0;
}
