// netback's data path against a frontend played by hand in a never-started domain: frames
// whole in both directions, checksum completion, the rx rules (one page a slot, sg or
// drop), bounded queues, and hostile rings that disconnect one device and no other.
#include "backends/netback/net_connection.hpp"

#include <gtest/gtest.h>

#include "backends/netback/checksum.hpp"
#include "tests/unit/backends/netback/fake_netfront.hpp"
#include "tests/unit/backends/netback/frames.hpp"

namespace xenolith::netback {
namespace {

using namespace testing;

class NetConnectionTest : public ::testing::Test {
  protected:
    NetConnectionTest() : fe_("netconn-" + std::to_string(++serial_)) {}

    std::unique_ptr<NetConnection> connect(bool sg = true, bool rx_notify = true,
                                           FakeNetfront* fe = nullptr) {
        fe = fe ? fe : &fe_;
        NetConnection::Options opts;
        opts.on_broken = [this](const std::string& r) {
            std::lock_guard lock(mutex_);
            reasons_.push_back(r);
        };
        auto c = std::make_unique<NetConnection>(fe->shared(), fe->frontend(sg, rx_notify), link_,
                                                 std::move(opts));
        NetConnection* raw = c.get();
        link_.set_receiver([raw](std::span<const uint8_t> f) { raw->receive(f); });
        return c;
    }
    std::vector<std::string> reasons() {
        std::lock_guard lock(mutex_);
        return reasons_;
    }
    void TearDown() override { link_.set_receiver({}); }

    static inline int serial_ = 0;
    FakeNetfront fe_;
    LoopbackLink link_;
    std::mutex mutex_;
    std::vector<std::string> reasons_;
};

TEST_F(NetConnectionTest, TxSingleSlotFrameArrivesWhole) {
    auto c = connect();
    Frame f = pattern_frame(1000);
    fe_.send_frame(f, 0, 4096, 100, 0, 7);
    auto rsp = fe_.tx_responses();
    ASSERT_EQ(rsp.size(), 1u);
    EXPECT_EQ(rsp[0].id, 7);
    EXPECT_EQ(rsp[0].status, NETIF_RSP_OKAY);
    ASSERT_TRUE(eventually([&] { return link_.count() == 1; }));
    EXPECT_EQ(link_.frames()[0], f);
    auto s = c->stats();
    EXPECT_EQ(s.tx_packets, 1u);
    EXPECT_EQ(s.tx_bytes, 1000u);
    EXPECT_FALSE(c->broken());
}

TEST_F(NetConnectionTest, TxMultiSlotFrameWithExtraInfoArrivesWhole) {
    auto c = connect();
    Frame f = pattern_frame(9000, 3);
    // 3000 bytes in the first slot, then an extra-info slot, then 4096 + 1904.
    std::memcpy(fe_.data(0) + 500, f.data(), 3000);
    std::memcpy(fe_.data(1), f.data() + 3000, 4096);
    std::memcpy(fe_.data(2), f.data() + 7096, 1904);
    fe_.queue_tx({fe_.ref(0), 500, NETTXF_more_data | NETTXF_extra_info, 1, 9000});
    netif_extra_info_t mcast{};
    mcast.type = XEN_NETIF_EXTRA_TYPE_MCAST_ADD;
    fe_.queue_extra(mcast);
    fe_.queue_tx({fe_.ref(1), 0, NETTXF_more_data, 2, 4096});
    fe_.queue_tx({fe_.ref(2), 0, 0, 3, 1904});
    fe_.push_tx();
    auto rsp = fe_.tx_responses();
    ASSERT_EQ(rsp.size(), 4u);
    EXPECT_EQ(rsp[0].id, 1);
    EXPECT_EQ(rsp[0].status, NETIF_RSP_OKAY);
    EXPECT_EQ(rsp[1].status, NETIF_RSP_NULL);  // the extra slot
    EXPECT_EQ(rsp[2].id, 2);
    EXPECT_EQ(rsp[3].id, 3);
    EXPECT_EQ(rsp[3].status, NETIF_RSP_OKAY);
    ASSERT_TRUE(eventually([&] { return link_.count() == 1; }));
    EXPECT_EQ(link_.frames()[0], f);
}

TEST_F(NetConnectionTest, TxCsumBlankFramesGetACorrectChecksum) {
    auto c = connect();
    std::vector<uint8_t> payload(1500);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 13);
    static const uint8_t mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
    Frame udp = udp_frame(1234, 53, payload, mac, kIpGuest, kIpGateway);
    udp[40] = 0xde, udp[41] = 0xad;  // whatever the frontend left there
    Frame tcp = tcp_frame(40000, 80, 0x18, payload);
    tcp[50] = 0x12, tcp[51] = 0x34;
    ASSERT_NE(l4_residue(udp), 0);
    ASSERT_NE(l4_residue(tcp), 0);
    fe_.send_frame(udp, 0, 1000, 0, NETTXF_csum_blank | NETTXF_data_validated, 10);
    fe_.send_frame(tcp, 4, 4096, 0, NETTXF_csum_blank | NETTXF_data_validated, 20);
    for (const auto& r : fe_.tx_responses()) EXPECT_EQ(r.status, NETIF_RSP_OKAY);
    ASSERT_TRUE(eventually([&] { return link_.count() == 2; }));
    auto frames = link_.frames();
    EXPECT_EQ(l4_residue(frames[0]), 0);
    EXPECT_EQ(l4_residue(frames[1]), 0);
    EXPECT_TRUE(l4_checksum_ok(frames[0]));
    EXPECT_TRUE(l4_checksum_ok(frames[1]));
    EXPECT_TRUE(std::equal(frames[1].begin() + 54, frames[1].end(), payload.begin()));
}

TEST_F(NetConnectionTest, TxBadPacketsGetErrorsAndTheDeviceCarriesOn) {
    auto c = connect();
    fe_.queue_tx({fe_.ref(0), 0, 0, 1, 10});  // shorter than an Ethernet header
    Frame arp = pattern_frame(60);
    std::memcpy(fe_.data(1), arp.data(), 60);
    fe_.queue_tx({fe_.ref(1), 0, NETTXF_csum_blank, 2, 60});  // not TCP/UDP: no checksum
    fe_.push_tx();
    auto rsp = fe_.tx_responses();
    ASSERT_EQ(rsp.size(), 2u);
    EXPECT_EQ(rsp[0].status, NETIF_RSP_ERROR);
    EXPECT_EQ(rsp[1].status, NETIF_RSP_ERROR);
    link_.refuse = true;  // the host side is full
    fe_.send_frame(arp, 2, 4096, 0, 0, 3);
    rsp = fe_.tx_responses();
    ASSERT_EQ(rsp.size(), 1u);
    EXPECT_EQ(rsp[0].status, NETIF_RSP_DROPPED);
    link_.refuse = false;
    fe_.send_frame(arp, 2, 4096, 0, 0, 4);
    EXPECT_EQ(fe_.tx_responses().at(0).status, NETIF_RSP_OKAY);
    auto s = c->stats();
    EXPECT_EQ(s.tx_errors, 2u);
    EXPECT_EQ(s.tx_dropped, 1u);
    EXPECT_EQ(s.tx_packets, 1u);
    EXPECT_FALSE(c->broken());
}

TEST_F(NetConnectionTest, TxRequestStormIsServedInBoundedRounds) {
    auto c = connect();
    Frame f = pattern_frame(64);
    // More requests than one wakeup's budget, all in the ring at once, twice round.
    for (int round = 0; round < 2; ++round) {
        for (unsigned i = 0; i < 200; ++i) {
            std::memcpy(fe_.data(i % 8), f.data(), f.size());
            fe_.queue_tx({fe_.ref(i % 8), 0, 0, static_cast<uint16_t>(i), 64});
        }
        fe_.push_tx();
        auto rsp = fe_.tx_responses();
        ASSERT_EQ(rsp.size(), 200u);
        for (unsigned i = 0; i < 200; ++i) EXPECT_EQ(rsp[i].id, i);
    }
    EXPECT_EQ(c->stats().tx_packets, 400u);
}

TEST_F(NetConnectionTest, RxSmallFrameFillsOneBuffer) {
    auto c = connect();
    fe_.post_rx(10, 4);
    Frame f = pattern_frame(600, 9);
    link_.inject(f);
    auto rsp = fe_.rx_responses(1);
    ASSERT_EQ(rsp.size(), 1u);
    EXPECT_EQ(rsp[0].status, 600);
    EXPECT_EQ(rsp[0].offset, 0);
    EXPECT_EQ(rsp[0].flags, NETRXF_data_validated);  // the link builds its own checksums
    EXPECT_EQ(rsp[0].id, 0);
    EXPECT_EQ(0, std::memcmp(fe_.data(10), f.data(), f.size()));
    EXPECT_EQ(c->stats().rx_packets, 1u);
    EXPECT_EQ(c->stats().rx_bytes, 600u);
}

TEST_F(NetConnectionTest, RxMultiPageFrameSpansBuffersWithSg) {
    auto c = connect(true);
    Frame f = pattern_frame(10000, 5);
    link_.inject(f);  // before any buffer: it waits
    std::this_thread::sleep_for(20ms);
    fe_.post_rx(20, 3);
    auto rsp = fe_.rx_responses(3);
    ASSERT_EQ(rsp.size(), 3u);
    EXPECT_EQ(rsp[0].status, 4096);
    EXPECT_EQ(rsp[1].status, 4096);
    EXPECT_EQ(rsp[2].status, 10000 - 8192);
    EXPECT_TRUE(rsp[0].flags & NETRXF_more_data);
    EXPECT_TRUE(rsp[1].flags & NETRXF_more_data);
    EXPECT_FALSE(rsp[2].flags & NETRXF_more_data);
    Frame got;
    for (unsigned i = 0; i < 3; ++i)
        got.insert(got.end(), fe_.data(20 + i), fe_.data(20 + i) + rsp[i].status);
    EXPECT_EQ(got, f);
}

TEST_F(NetConnectionTest, RxOversizeWithoutSgIsDroppedAndCounted) {
    link_.trusted = false;
    auto c = connect(false);
    fe_.post_rx(10, 4);
    link_.inject(pattern_frame(5000));
    link_.inject(pattern_frame(1500, 2));
    auto rsp = fe_.rx_responses(1);
    ASSERT_EQ(rsp.size(), 1u);
    EXPECT_EQ(rsp[0].status, 1500);
    EXPECT_EQ(rsp[0].flags, 0);  // an untrusted link: the guest checks for itself
    EXPECT_EQ(c->stats().rx_oversize, 1u);
    EXPECT_EQ(c->stats().rx_packets, 1u);
}

TEST_F(NetConnectionTest, RxQueueIsBoundedWhileTheGuestPostsNothing) {
    auto c = connect();
    for (int i = 0; i < 300; ++i) link_.inject(pattern_frame(100, static_cast<uint8_t>(i)));
    EXPECT_EQ(c->stats().rx_dropped, 300u - NetConnection::kRxQueueFrames);
    fe_.post_rx(0, 64);
    auto rsp = fe_.rx_responses(64);
    EXPECT_EQ(rsp.size(), 64u);
    EXPECT_EQ(fe_.data(0)[14], pattern_frame(100, 0)[14]);  // the oldest came first
}

TEST_F(NetConnectionTest, RxWithoutRxNotifyPollsForBuffers) {
    auto c = connect(true, false);
    link_.inject(pattern_frame(200));
    std::this_thread::sleep_for(20ms);
    fe_.post_rx(0, 1, /*notify=*/false);  // posted silently
    EXPECT_EQ(fe_.rx_responses(1).size(), 1u);
}

// --- Hostile frontends -----------------------------------------------------------------

struct Hostile {
    const char* name;
    std::function<void(FakeNetfront&)> act;
    const char* reason;
};

class HostileTest : public NetConnectionTest, public ::testing::WithParamInterface<Hostile> {};

TEST_P(HostileTest, DisconnectsThisDeviceOnlyWithTheReason) {
    FakeNetfront other("netconn-other-" + std::to_string(++serial_));
    LoopbackLink other_link;
    NetConnection::Options opts;
    opts.on_broken = [](const std::string&) { ADD_FAILURE() << "the other device broke"; };
    NetConnection bystander(other.shared(), other.frontend(), other_link, std::move(opts));

    auto c = connect();
    GetParam().act(fe_);
    ASSERT_TRUE(eventually([&] { return c->broken(); }));
    auto r = reasons();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_NE(r[0].find(GetParam().reason), std::string::npos) << r[0];
    // The broken device answers nothing more; the other one carries on.
    fe_.send_frame(pattern_frame(100), 0, 4096);
    other.send_frame(pattern_frame(100), 0, 4096);
    EXPECT_EQ(other.tx_responses().at(0).status, NETIF_RSP_OKAY);
    EXPECT_FALSE(bystander.broken());
    EXPECT_EQ(reasons().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Rings, HostileTest,
    ::testing::Values(Hostile{"BadRef",
                              [](FakeNetfront& fe) {
                                  fe.revoke(fe.ref(3));
                                  fe.send_frame(pattern_frame(100), 3, 4096);
                              },
                              "tx grant reference 19 is not granted"},
                      Hostile{"OffsetPastPage",
                              [](FakeNetfront& fe) {
                                  fe.queue_tx({fe.ref(0), 4000, 0, 1, 200});
                                  fe.push_tx();
                              },
                              "offset 4000 + size 200 is past the page"},
                      Hostile{"ChainTooLong",
                              [](FakeNetfront& fe) {
                                  for (uint16_t i = 0; i < 30; ++i)
                                      fe.queue_tx({fe.ref(i), 0, NETTXF_more_data, i,
                                                   static_cast<uint16_t>(i == 0 ? 3000 : 100)});
                                  fe.push_tx();
                              },
                              "packet chain longer than 18 slots"},
                      Hostile{
                          "TxProducerAhead",
                          [](FakeNetfront& fe) {
                              fe.tx().sring->req_prod = 1000;
                              fe.domain().evtchn().send(fe.port());
                          },
                          "tx ring producer 1000 is more than 256 requests ahead of consumer 0"},
                      Hostile{"RxProducerAhead",
                              [](FakeNetfront& fe) {
                                  fe.rx().sring->req_prod = 5000;
                                  fe.domain().evtchn().send(fe.port());
                              },
                              "rx ring producer 5000"},
                      Hostile{"BadExtraType",
                              [](FakeNetfront& fe) {
                                  fe.queue_tx({fe.ref(0), 0, NETTXF_extra_info, 1, 100});
                                  netif_extra_info_t e{};
                                  e.type = 77;
                                  fe.queue_extra(e);
                                  fe.push_tx();
                              },
                              "extra-info type 77"}),
    [](const auto& info) { return std::string(info.param.name); });

// The rx ring's producer runs ahead only when frames are waiting: inject one.
TEST_F(NetConnectionTest, RxBufferNotGrantedDisconnects) {
    auto c = connect();
    fe_.revoke(fe_.ref(30));
    fe_.post_rx(30, 1);
    link_.inject(pattern_frame(100));
    ASSERT_TRUE(eventually([&] { return c->broken(); }));
    ASSERT_EQ(reasons().size(), 1u);
    EXPECT_NE(reasons()[0].find("rx grant reference 46"), std::string::npos) << reasons()[0];
}

}  // namespace
}  // namespace xenolith::netback
