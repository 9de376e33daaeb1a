// netback's xenbus driver through the store, the frontend played by hand: the features it
// publishes, connecting on the frontend's nodes, refusing rx flipping, a hostile ring
// reported as one line (the device goes Closing), and the link kept across a reconnect.
#include "backends/netback/netback_driver.hpp"

#include <gtest/gtest.h>

#include "backends/xenstored/local_client.hpp"
#include "backends/xenstored/xenstored.hpp"
#include "tests/unit/backends/netback/fake_netfront.hpp"

namespace xenolith::netback {
namespace {

using namespace testing;
using backends::xenbus::BackendDevice;
using backends::xenbus::DevicePaths;

class NetbackDriverTest : public ::testing::Test {
  protected:
    NetbackDriverTest()
        : fe_("netdrv-" + std::to_string(++serial_)), client_(daemon_), store_(daemon_) {
        paths_ = {fe_.domain().id(), "vif", 0};
        client_.write(paths_.frontend() + "/state", "1");
        client_.write(paths_.backend() + "/state", "1");
        auto link = std::make_unique<LoopbackLink>();
        link_ = link.get();
        auto driver =
            std::make_unique<NetbackDriver>(fe_.shared(), std::move(link), NetbackDriver::Fail{});
        driver_ = driver.get();
        device_ = std::make_unique<BackendDevice>(store_, paths_, std::move(driver),
                                                  [this](const std::string& l) {
                                                      std::lock_guard lock(mutex_);
                                                      log_.push_back(l);
                                                  });
        driver_->set_fail([this](const std::string& r) { device_->fail(r); });
    }
    ~NetbackDriverTest() override { device_.reset(); }

    std::string backend(const char* node) { return client_.read(paths_.backend() + "/" + node); }
    void frontend(const char* node, const std::string& value) {
        client_.write(paths_.frontend() + "/" + node, value);
    }
    void write_rings(const char* rx_copy = "1") {
        frontend("tx-ring-ref", std::to_string(FakeNetfront::kTxRingRef));
        frontend("rx-ring-ref", std::to_string(FakeNetfront::kRxRingRef));
        frontend("event-channel", std::to_string(fe_.port()));
        frontend("request-rx-copy", rx_copy);
        frontend("feature-rx-notify", "1");
        frontend("feature-sg", "1");
    }
    std::vector<std::string> log() {
        std::lock_guard lock(mutex_);
        return log_;
    }

    static inline int serial_ = 0;
    FakeNetfront fe_;
    xenstored::Xenstored daemon_;
    xenstored::LocalClient client_;
    xenstored::WatchClient store_;
    DevicePaths paths_;
    LoopbackLink* link_ = nullptr;
    NetbackDriver* driver_ = nullptr;
    std::unique_ptr<BackendDevice> device_;
    std::mutex mutex_;
    std::vector<std::string> log_;
};

TEST_F(NetbackDriverTest, PublishesWhatItSupports) {
    EXPECT_EQ(backend("feature-sg"), "1");
    EXPECT_EQ(backend("feature-rx-copy"), "1");
    EXPECT_EQ(backend("feature-rx-flip"), "0");
    EXPECT_EQ(backend("feature-gso-tcpv4"), "0");
    EXPECT_EQ(backend("feature-multicast-control"), "0");
    EXPECT_EQ(backend("state"), "2");
}

TEST_F(NetbackDriverTest, ConnectsAndCarriesFramesBothWays) {
    write_rings();
    frontend("state", "3");
    ASSERT_TRUE(eventually([&] { return device_->state() == XenbusStateConnected; }));
    fe_.send_frame(pattern_frame(300), 0, 4096);
    EXPECT_EQ(fe_.tx_responses().at(0).status, NETIF_RSP_OKAY);
    ASSERT_TRUE(eventually([&] { return link_->count() == 1; }));
    fe_.post_rx(10, 1);
    link_->inject(pattern_frame(80));
    EXPECT_EQ(fe_.rx_responses(1).at(0).status, 80);
    auto s = driver_->stats();
    EXPECT_EQ(s.tx_packets, 1u);
    EXPECT_EQ(s.rx_packets, 1u);
}

TEST_F(NetbackDriverTest, RefusesRxFlipping) {
    write_rings("0");
    frontend("state", "3");
    ASSERT_TRUE(eventually([&] { return device_->state() == XenbusStateClosing; }));
    auto l = log();
    ASSERT_EQ(l.size(), 1u);
    EXPECT_NE(l[0].find("only rx copy is supported"), std::string::npos) << l[0];
}

TEST_F(NetbackDriverTest, HostileRingIsOneLineAndClosingThenReconnectKeepsTheLink) {
    write_rings();
    frontend("state", "3");
    ASSERT_TRUE(eventually([&] { return device_->state() == XenbusStateConnected; }));
    fe_.tx().sring->req_prod = 999;
    fe_.domain().evtchn().send(fe_.port());
    ASSERT_TRUE(eventually([&] { return device_->state() == XenbusStateClosing; }));
    auto l = log();
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0], paths_.name() +
                        ": disconnected: tx ring producer 999 is more than 256 requests ahead "
                        "of consumer 0");
    EXPECT_EQ(l[0].rfind("vif 0 of domain ", 0), 0u);
    // The frontend closes, resets its rings and comes back: same link, counters go on.
    frontend("state", "6");
    ASSERT_TRUE(eventually([&] { return device_->state() == XenbusStateClosed; }));
    EXPECT_FALSE(driver_->connected());
    fe_.tx().sring->req_prod = 0;
    fe_.tx().req_prod_pvt = 0;
    fe_.tx().rsp_cons = 0;
    fe_.tx().sring->rsp_prod = 0;
    fe_.tx().sring->req_event = 1;
    fe_.tx().sring->rsp_event = 1;
    frontend("state", "1");
    ASSERT_TRUE(eventually([&] { return device_->state() == XenbusStateInitWait; }));
    frontend("state", "3");
    ASSERT_TRUE(eventually([&] { return device_->state() == XenbusStateConnected; }));
    fe_.send_frame(pattern_frame(120), 0, 4096);
    EXPECT_EQ(fe_.tx_responses().at(0).status, NETIF_RSP_OKAY);
    ASSERT_TRUE(eventually([&] { return link_->count() == 1; }));
    EXPECT_EQ(&driver_->link(), link_);
}

}  // namespace
}  // namespace xenolith::netback
