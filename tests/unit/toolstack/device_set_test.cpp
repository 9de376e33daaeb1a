// A domain's devices in the store as libxl lays them out: both directories with their
// owners, the backend in InitWait, removal with and without the guest's help, and nothing
// left behind by a device that could not start.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "backends/xenstored/local_client.hpp"
#include "backends/xenstored/xenstored.hpp"
#include "base/error.hpp"
#include "toolstack/launch/device_set.hpp"

namespace xenolith::launch {
namespace {

using namespace std::chrono_literals;
using backends::xenbus::DevicePaths;
using backends::xenbus::FrontendNodes;

struct CountingDriver : backends::xenbus::Driver {
    explicit CountingDriver(bool refuse_features = false) : refuse(refuse_features) {}
    bool refuse;
    bool refuse_quiesce = false;
    int* quiesced = nullptr;  // +1 per quiesce, -1 per resume
    std::vector<std::pair<std::string, std::string>> features() override {
        if (refuse) throw Error("no image");
        return {{"sectors", "8"}};
    }
    void connect(const FrontendNodes&) override {}
    void disconnect() override {}
    void quiesce() override {
        if (refuse_quiesce) throw Error("the image cannot be flushed");
        if (quiesced) ++*quiesced;
    }
    void resume() override {
        if (quiesced) --*quiesced;
    }
};

class DeviceSetTest : public ::testing::Test {
  protected:
    DeviceSetTest() : client_(daemon_), store_(daemon_) {}
    DeviceNodes vbd(uint32_t devid) {
        return {{5, "vbd", devid},
                {{"virtual-device", std::to_string(devid)}, {"device-type", "disk"}},
                {{"dev", "xvda"}, {"mode", "w"}, {"params", "/tmp/disk.img"}}};
    }
    bool exists(const std::string& path) {
        try {
            client_.read(path);
            return true;
        } catch (const Error&) {
            return false;
        }
    }

    xenstored::Xenstored daemon_;
    xenstored::LocalClient client_;
    xenstored::WatchClient store_;
    std::vector<std::string> log_;
};

TEST_F(DeviceSetTest, WritesLibxlsNodesAndOwners) {
    DeviceSet set(store_, [this](const std::string& l) { log_.push_back(l); });
    set.add(vbd(51712), std::make_unique<CountingDriver>());
    const std::string fe = "/local/domain/5/device/vbd/51712";
    const std::string be = "/local/domain/0/backend/vbd/5/51712";
    EXPECT_EQ(client_.read(fe + "/backend"), be);
    EXPECT_EQ(client_.read(fe + "/backend-id"), "0");
    EXPECT_EQ(client_.read(fe + "/state"), "1");
    EXPECT_EQ(client_.read(fe + "/virtual-device"), "51712");
    EXPECT_EQ(client_.read(be + "/frontend"), fe);
    EXPECT_EQ(client_.read(be + "/frontend-id"), "5");
    EXPECT_EQ(client_.read(be + "/online"), "1");
    EXPECT_EQ(client_.read(be + "/params"), "/tmp/disk.img");
    EXPECT_EQ(client_.read(be + "/sectors"), "8");
    EXPECT_EQ(client_.read(be + "/state"), "2");
    // Owners: the guest owns its frontend directory, dom0 the backend's (GET_PERMS "n5\0r0\0").
    std::string fe_perms = client_.request(XS_GET_PERMS, fe + '\0');
    EXPECT_EQ(fe_perms, std::string("n5\0r0\0", 6));
    std::string be_perms = client_.request(XS_GET_PERMS, be + '\0');
    EXPECT_EQ(be_perms, std::string("n0\0r5\0", 6));
    EXPECT_THROW(set.add(vbd(51712), std::make_unique<CountingDriver>()), Error);
    auto list = set.list("vbd");
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].backend_state, 2);
    EXPECT_EQ(list[0].frontend_state, 1);
    EXPECT_EQ(list[0].backend.at("dev"), "xvda");
    EXPECT_TRUE(set.list("vif").empty());
}

TEST_F(DeviceSetTest, AFailedDeviceLeavesNothing) {
    DeviceSet set(store_, [this](const std::string& l) { log_.push_back(l); });
    EXPECT_THROW(set.add(vbd(51728), std::make_unique<CountingDriver>(true)), Error);
    EXPECT_FALSE(exists("/local/domain/5/device/vbd/51728"));
    EXPECT_FALSE(exists("/local/domain/0/backend/vbd/5/51728"));
    EXPECT_FALSE(exists("/local/domain/0/backend/vbd/5"));
    EXPECT_FALSE(set.contains("vbd", 51728));
}

TEST_F(DeviceSetTest, RemoveForcesASilentGuestAndCleansUp) {
    DeviceSet set(store_, [this](const std::string& l) { log_.push_back(l); });
    set.add(vbd(51712), std::make_unique<CountingDriver>());
    set.add(vbd(51728), std::make_unique<CountingDriver>());
    // The guest never connected: its frontend sits in Initialising, which counts as closed.
    EXPECT_TRUE(set.remove("vbd", 51712, 1s));
    EXPECT_FALSE(exists("/local/domain/5/device/vbd/51712"));
    EXPECT_FALSE(exists("/local/domain/0/backend/vbd/5/51712"));
    EXPECT_TRUE(exists("/local/domain/0/backend/vbd/5/51728"));
    EXPECT_FALSE(set.remove("vbd", 51712, 1s));
    // A connected frontend that never answers Closing: forced after the timeout, one line.
    client_.write("/local/domain/5/device/vbd/51728/state", "4");
    std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(set.remove("vbd", 51728, 50ms));
    ASSERT_EQ(log_.size(), 1u);
    EXPECT_EQ(log_[0], "vbd 51728 of domain 5: the guest did not close it; forced");
    EXPECT_FALSE(exists("/local/domain/0/backend/vbd/5"));
}

TEST_F(DeviceSetTest, DestructionRemovesEverything) {
    {
        DeviceSet set(store_, [this](const std::string& l) { log_.push_back(l); });
        set.add(vbd(51712), std::make_unique<CountingDriver>());
    }
    EXPECT_FALSE(exists("/local/domain/5/device/vbd/51712"));
    EXPECT_FALSE(exists("/local/domain/0/backend/vbd/5"));
}

// A saved domain's devices quiesce together, or not at all.
TEST_F(DeviceSetTest, QuiesceIsAllOrNothing) {
    DeviceSet set(store_, [this](const std::string& l) { log_.push_back(l); });
    int quiesced = 0;
    for (uint32_t devid : {51712u, 51728u}) {
        auto d = std::make_unique<CountingDriver>();
        d->quiesced = &quiesced;
        set.add(vbd(devid), std::move(d));
    }
    set.quiesce_all();
    EXPECT_EQ(quiesced, 2);
    set.resume_all();
    EXPECT_EQ(quiesced, 0);
    auto bad = std::make_unique<CountingDriver>();
    bad->refuse_quiesce = true;
    set.add(vbd(51744), std::move(bad));
    try {
        set.quiesce_all();
        ADD_FAILURE() << "a device that cannot quiesce let the save go on";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("vbd 51744"), std::string::npos) << e.what();
    }
    EXPECT_EQ(quiesced, 0) << "those quiesced before it resumed";
}

// A restored device leaves its frontend directory as the guest's saved nodes have it.
TEST_F(DeviceSetTest, ARestoredDeviceKeepsItsFrontendNodes) {
    const std::string fe = "/local/domain/5/device/vbd/51712";
    client_.write(fe + "/state", "4");
    client_.write(fe + "/ring-ref", "8");
    DeviceSet set(store_, [this](const std::string& l) { log_.push_back(l); });
    set.add(vbd(51712), std::make_unique<CountingDriver>(), true);
    EXPECT_EQ(client_.read(fe + "/state"), "4");
    EXPECT_EQ(client_.read(fe + "/ring-ref"), "8");
    EXPECT_FALSE(exists(fe + "/virtual-device"));
    EXPECT_EQ(client_.read("/local/domain/0/backend/vbd/5/51712/params"), "/tmp/disk.img");
}

}  // namespace
}  // namespace xenolith::launch
