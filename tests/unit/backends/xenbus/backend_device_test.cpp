// The xenbus handshake's backend half against a frontend played by hand through the store:
// InitWait with the driver's features, connect on Initialised, refusal on bad nodes,
// disconnect on Closing/Closed, detach with and without a cooperating frontend.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "backends/xenbus/backend_device.hpp"
#include "backends/xenstored/local_client.hpp"
#include "backends/xenstored/xenstored.hpp"
#include "base/error.hpp"

namespace xenolith::backends::xenbus {
namespace {

using namespace std::chrono_literals;

struct FakeDriver : Driver {
    std::atomic<int> connects{0};
    std::atomic<int> disconnects{0};
    std::atomic<uint64_t> port{0};
    std::vector<std::pair<std::string, std::string>> features() override {
        return {{"feature-test", "1"}, {"sectors", "2048"}};
    }
    void connect(const FrontendNodes& fe) override {
        port = fe.number("event-channel", 4095);
        ++connects;
    }
    void disconnect() override { ++disconnects; }
    void quiesce() override {}
    void resume() override {}
};

template <typename Pred>
bool eventually(Pred pred) {
    for (auto end = std::chrono::steady_clock::now() + 5s;
         std::chrono::steady_clock::now() < end;) {
        if (pred()) return true;
        std::this_thread::sleep_for(1ms);
    }
    return pred();
}

class BackendDeviceTest : public ::testing::Test {
  protected:
    BackendDeviceTest() : client_(daemon_), store_(daemon_) {
        client_.write(paths_.frontend() + "/state", "1");
        client_.write(paths_.backend() + "/state", "1");
    }
    std::unique_ptr<BackendDevice> make() {
        auto d = std::make_unique<FakeDriver>();
        driver_ = d.get();
        return std::make_unique<BackendDevice>(store_, paths_, std::move(d),
                                               [this](const std::string& l) { log_.push_back(l); });
    }
    std::string backend(const char* node) { return client_.read(paths_.backend() + "/" + node); }
    void frontend(const char* node, const char* value) {
        client_.write(paths_.frontend() + "/" + node, value);
    }

    xenstored::Xenstored daemon_;
    xenstored::LocalClient client_;
    xenstored::WatchClient store_;
    DevicePaths paths_{3, "vbd", 51712};
    FakeDriver* driver_ = nullptr;
    std::vector<std::string> log_;
};

TEST(DevicePathsTest, LaidOutAsLibxl) {
    DevicePaths p{7, "vif", 0};
    EXPECT_EQ(p.backend(), "/local/domain/0/backend/vif/7/0");
    EXPECT_EQ(p.frontend(), "/local/domain/7/device/vif/0");
    EXPECT_EQ(p.name(), "vif 0 of domain 7");
}

TEST_F(BackendDeviceTest, PublishesFeaturesThenInitWait) {
    auto dev = make();
    EXPECT_EQ(backend("feature-test"), "1");
    EXPECT_EQ(backend("sectors"), "2048");
    EXPECT_EQ(backend("state"), "2");
    EXPECT_EQ(dev->state(), XenbusStateInitWait);
}

TEST_F(BackendDeviceTest, ConnectsWhenTheFrontendIsInitialised) {
    auto dev = make();
    frontend("event-channel", "17");
    frontend("state", "3");
    ASSERT_TRUE(eventually([&] { return dev->state() == XenbusStateConnected; }));
    EXPECT_EQ(backend("state"), "4");
    EXPECT_EQ(driver_->connects, 1);
    EXPECT_EQ(driver_->port, 17u);
    frontend("state", "4");  // the frontend's Connected changes nothing
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(driver_->connects, 1);
}

TEST_F(BackendDeviceTest, RefusesBadFrontendNodesWithOneLine) {
    auto dev = make();
    frontend("event-channel", "lots");
    frontend("state", "3");
    ASSERT_TRUE(eventually([&] { return dev->state() == XenbusStateClosing; }));
    ASSERT_EQ(log_.size(), 1u);
    EXPECT_NE(log_[0].find("vbd 51712 of domain 3: not connected: frontend node event-channel"),
              std::string::npos)
        << log_[0];
    EXPECT_EQ(driver_->connects, 0);
}

TEST_F(BackendDeviceTest, GarbageStateClosesAndInitialisingReopens) {
    auto dev = make();
    frontend("event-channel", "5");
    frontend("state", "3");
    ASSERT_TRUE(eventually([&] { return dev->state() == XenbusStateConnected; }));
    frontend("state", "banana");
    ASSERT_TRUE(eventually([&] { return dev->state() == XenbusStateClosed; }));
    EXPECT_EQ(driver_->disconnects, 1);
    frontend("state", "1");
    ASSERT_TRUE(eventually([&] { return dev->state() == XenbusStateInitWait; }));
    frontend("state", "3");
    ASSERT_TRUE(eventually([&] { return dev->state() == XenbusStateConnected; }));
    EXPECT_EQ(driver_->connects, 2);
}

TEST_F(BackendDeviceTest, DetachWithACooperatingFrontend) {
    auto dev = make();
    frontend("event-channel", "5");
    frontend("state", "3");
    ASSERT_TRUE(eventually([&] { return dev->state() == XenbusStateConnected; }));
    // The frontend follows the backend's Closing as Linux's blkfront does.
    auto follow = store_.watch(paths_.backend() + "/state", [&](std::string_view) {
        if (client_.read(paths_.backend() + "/state") == "5") frontend("state", "6");
    });
    EXPECT_TRUE(dev->close(5s));
    EXPECT_EQ(backend("state"), "6");
    EXPECT_GE(driver_->disconnects, 1);
}

TEST_F(BackendDeviceTest, DetachGivesUpOnASilentFrontend) {
    auto dev = make();
    frontend("event-channel", "5");
    frontend("state", "3");
    ASSERT_TRUE(eventually([&] { return dev->state() == XenbusStateConnected; }));
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(dev->close(100ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
    EXPECT_EQ(backend("state"), "6");
    EXPECT_EQ(driver_->disconnects, 1);
}

TEST_F(BackendDeviceTest, FailFromTheDataPathGoesClosing) {
    auto dev = make();
    frontend("event-channel", "5");
    frontend("state", "3");
    ASSERT_TRUE(eventually([&] { return dev->state() == XenbusStateConnected; }));
    dev->fail("ring producer 4096 ahead of consumer 0");
    EXPECT_EQ(backend("state"), "5");
    ASSERT_EQ(log_.size(), 1u);
    EXPECT_EQ(log_[0],
              "vbd 51712 of domain 3: disconnected: ring producer 4096 ahead of consumer 0");
}

// A data path that breaks while the device is still connecting it (its thread runs before
// connect() returns): the device ends Closing, not Connected, and says why once.
TEST(BackendDeviceFailTest, FailureDuringConnectEndsClosing) {
    struct EarlyFailure : Driver {
        std::vector<std::pair<std::string, std::string>> features() override { return {}; }
        void connect(const FrontendNodes&) override {
            std::thread([this] { failed("producer ahead"); }).join();
        }
        void disconnect() override {}
        void quiesce() override {}
        void resume() override {}
    };
    xenstored::Xenstored daemon;
    xenstored::LocalClient client(daemon);
    xenstored::WatchClient store(daemon);
    DevicePaths paths{4, "vif", 0};
    client.write(paths.frontend() + "/state", "1");
    std::vector<std::string> log;
    BackendDevice dev(store, paths, std::make_unique<EarlyFailure>(),
                      [&](const std::string& l) { log.push_back(l); });
    client.write(paths.frontend() + "/state", "3");
    ASSERT_TRUE(eventually([&] { return client.read(paths.backend() + "/state") == "5"; }));
    EXPECT_EQ(log, std::vector<std::string>{"vif 0 of domain 4: disconnected: producer ahead"});
}

TEST(WatchClientTest, RequestsAndWatchesFromAnyThread) {
    xenstored::Xenstored daemon;
    xenstored::WatchClient store(daemon);
    store.write("/a/b", "1");
    EXPECT_EQ(store.read("/a/b"), "1");
    EXPECT_FALSE(store.try_read("/a/none"));
    EXPECT_THROW(store.read("/a/none"), Error);
    std::atomic<int> fired{0};
    std::string seen;
    auto w = store.watch("/a", [&](std::string_view path) {
        // A request from inside a callback works (the watch thread's own request).
        store.write("/log/last", std::string(path));
        ++fired;
    });
    ASSERT_TRUE(eventually([&] { return fired >= 1; }));  // fired once on registration
    store.write("/a/c", "2");
    ASSERT_TRUE(eventually([&] { return store.read("/log/last") == "/a/c"; }));
    w.reset();
    int before = fired;
    store.write("/a/d", "3");
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(fired, before);
    EXPECT_EQ(store.directory("/a"), (std::vector<std::string>{"b", "c", "d"}));
}

TEST(WatchClientTest, TransactionsConflict) {
    xenstored::Xenstored daemon;
    xenstored::WatchClient store(daemon);
    store.write("/t", "0");
    uint32_t tx = store.transaction_start();
    store.read("/t", tx);
    store.write("/t", "1", tx);
    store.write("/t", "2");  // outside, conflicting
    EXPECT_FALSE(store.transaction_end(tx, true));
    EXPECT_EQ(store.read("/t"), "2");
}

}  // namespace
}  // namespace xenolith::backends::xenbus
