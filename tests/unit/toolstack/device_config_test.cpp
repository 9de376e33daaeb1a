// disk= and vif= at config time: to_domain_config() keeps the raw specs and adds their
// parsed forms, so that a bad device fails `xn create` before anything is built.
#include <gtest/gtest.h>

#include <string>

#include "toolstack/xlcfg/domain_config.hpp"

namespace xenolith::xlcfg {
namespace {

DomainConfig with(std::string_view devices) {
    return to_domain_config(
        Config::parse("name = 'g'\nkernel = '/k'\n" + std::string(devices), "d.cfg"));
}

std::string error_with(std::string_view devices) {
    try {
        with(devices);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

// The example line of docs/misc/xl-disk-configuration.txt.
TEST(DeviceConfig, TheDocumentsDiskLine) {
    const DomainConfig dc =
        with("disk = [ '/dev/vg/guest-volume,,hda', '/root/image.iso,,hdc,cdrom' ]\n");
    ASSERT_EQ(dc.disks.size(), 2u);
    ASSERT_EQ(dc.disk_configs.size(), 2u);
    EXPECT_EQ(dc.disks[1].spec, "/root/image.iso,,hdc,cdrom");
    EXPECT_EQ(dc.disk_configs[0].target, "/dev/vg/guest-volume");
    EXPECT_EQ(dc.disk_configs[0].devid, 768u);
    EXPECT_FALSE(dc.disk_configs[0].readonly);
    EXPECT_EQ(dc.disk_configs[1].target, "/root/image.iso");
    EXPECT_EQ(dc.disk_configs[1].devid, 5632u);
    EXPECT_TRUE(dc.disk_configs[1].cdrom);
    EXPECT_EQ(dc.disk_configs[1].pos.to_string(), "d.cfg:3:39");
}

TEST(DeviceConfig, ABadDiskFailsTheWholeConfigAtItsPosition) {
    EXPECT_EQ(error_with("disk = [ 'phy:/dev/sda,xvda,w',\n  '/srv/b.img' ]\n"),
              "d.cfg:4:3: disk: no vdev specified");
}

TEST(DeviceConfig, TwoDisksOnOneDevice) {
    EXPECT_EQ(error_with("disk = [ 'phy:/dev/sda,xvda,w', 'file:/srv/b.img,51712,r' ]\n"),
              "d.cfg:3:33: disk: vdev '51712' is device 51712, already used by vdev 'xvda' at "
              "d.cfg:3:10");
}

TEST(DeviceConfig, VifsGetDevidsInOrder) {
    const DomainConfig dc = with("vif = [ 'bridge=br0', 'devid=0,forward=8080:80', '' ]\n");
    ASSERT_EQ(dc.vif_configs.size(), 3u);
    EXPECT_EQ(dc.vif_configs[0].devid, 1u);
    EXPECT_EQ(dc.vif_configs[1].devid, 0u);
    EXPECT_EQ(dc.vif_configs[2].devid, 2u);
    EXPECT_EQ(dc.vifs[2].spec, "");
}

TEST(DeviceConfig, VifErrorsFailTheConfig) {
    EXPECT_EQ(error_with("vif = [ 'devid=1', 'devid=1' ]\n"),
              "d.cfg:3:20: vif: devid 1 is already used by the vif at d.cfg:3:9");
    EXPECT_EQ(error_with("vif = [ 'forward=80:80', 'forward=80:8080' ]\n"),
              "d.cfg:3:26: vif: forward of tcp port 80 conflicts with the vif at d.cfg:3:9");
    EXPECT_EQ(error_with("vif = [ 'bridge=br0,wat=1' ]\n"),
              "d.cfg:3:9: vif: unknown key 'wat' (known: mac, bridge, ip, vifname, script, model, "
              "type, devid, mtu, backend, gatewaydev, forward)");
}

}  // namespace
}  // namespace xenolith::xlcfg
