// The tx chain rules as pure functions: where a packet ends, what an honest frontend may
// get wrong (an error response) and what only a hostile one does (a disconnect).
#include "backends/netback/tx_chain.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace xenolith::netback {
namespace {

using Verdict = TxChain::Verdict;

TxChain parse(const std::vector<netif_tx_request_t>& ring) {
    return parse_tx_chain([&](uint32_t i) { return ring.at(i); },
                          static_cast<uint32_t>(ring.size()));
}

netif_tx_request_t extra(uint8_t type, bool more = false) {
    netif_extra_info_t e{};
    e.type = type;
    e.flags = more ? XEN_NETIF_EXTRA_FLAG_MORE : 0;
    netif_tx_request_t slot{};
    std::memcpy(&slot, &e, sizeof e);
    return slot;
}

TEST(TxChainTest, SingleSlotPacket) {
    auto c = parse({{1, 10, 0, 5, 1500}, {2, 0, 0, 6, 60}});
    EXPECT_EQ(c.verdict, Verdict::Ok);
    ASSERT_EQ(c.slots.size(), 1u);  // the next packet is not ours
    EXPECT_EQ(c.slots[0].length, 1500);
    EXPECT_EQ(c.size, 1500u);
}

TEST(TxChainTest, FirstSlotCarriesWhatTheOthersLeave) {
    auto c = parse({{1, 0, NETTXF_more_data | NETTXF_extra_info, 1, 6000},
                    extra(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, true),
                    extra(XEN_NETIF_EXTRA_TYPE_HASH),
                    {2, 0, NETTXF_more_data, 2, 4096},
                    {3, 0, 0, 3, 904}});
    EXPECT_EQ(c.verdict, Verdict::Ok) << c.reason;
    ASSERT_EQ(c.slots.size(), 5u);
    EXPECT_EQ(c.slots[0].length, 1000);
    EXPECT_TRUE(c.slots[1].extra);
    EXPECT_TRUE(c.slots[2].extra);
    EXPECT_EQ(c.slots[4].length, 904);
}

TEST(TxChainTest, ChainPastTheProducerWaits) {
    EXPECT_EQ(parse({{1, 0, NETTXF_more_data, 1, 200}}).verdict, Verdict::Incomplete);
    EXPECT_EQ(parse({{1, 0, NETTXF_extra_info, 1, 200}}).verdict, Verdict::Incomplete);
    EXPECT_EQ(parse({}).verdict, Verdict::Incomplete);
}

TEST(TxChainTest, HonestMistakesAreErrors) {
    EXPECT_EQ(parse({{1, 0, 0, 1, 13}}).verdict, Verdict::Error);  // runt
    auto c = parse({{1, 0, NETTXF_more_data, 1, 100}, {2, 0, 0, 2, 200}});
    EXPECT_EQ(c.verdict, Verdict::Error);  // the rest is larger than the whole
    EXPECT_EQ(c.slots.size(), 2u);         // yet the whole chain is consumed
    c = parse({{1, 0, NETTXF_extra_info, 1, 100}, extra(XEN_NETIF_EXTRA_TYPE_GSO)});
    EXPECT_EQ(c.verdict, Verdict::Error);
    EXPECT_NE(c.reason.find("GSO"), std::string::npos);
}

TEST(TxChainTest, HostileChainsAreRefused) {
    EXPECT_EQ(parse({{1, 4095, 0, 1, 2}}).verdict, Verdict::Hostile);
    EXPECT_EQ(parse({{1, 0, NETTXF_more_data, 1, 9000}, {2, 100, 0, 2, 4000}}).verdict,
              Verdict::Hostile);
    std::vector<netif_tx_request_t> ring(kMaxTxDataSlots + 1, {1, 0, NETTXF_more_data, 1, 10});
    ring[0].size = 60000;
    EXPECT_EQ(parse(ring).verdict, Verdict::Hostile);
    ring.resize(kMaxTxDataSlots);
    ring.back().flags = 0;
    ring[0].size = 100 + 10 * (kMaxTxDataSlots - 1);
    EXPECT_EQ(parse(ring).verdict, Verdict::Ok);  // exactly the limit is fine
    EXPECT_EQ(parse({{1, 0, NETTXF_extra_info, 1, 100}, extra(0)}).verdict, Verdict::Hostile);
    std::vector<netif_tx_request_t> extras{{1, 0, NETTXF_extra_info, 1, 100}};
    for (int i = 0; i < 6; ++i) extras.push_back(extra(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, true));
    EXPECT_EQ(parse(extras).verdict, Verdict::Hostile);
}

}  // namespace
}  // namespace xenolith::netback
