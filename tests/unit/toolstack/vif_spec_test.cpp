// vif= specs: xl's KEY=VALUE items, the keys Xenolith honours and those it refuses,
// forward= (Xenolith's), and devid assignment across a domain's vifs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "toolstack/xlcfg/vif_spec.hpp"

namespace xenolith::xlcfg {
namespace {

const Position kAt{"d.cfg", 5, 10};

VifConfig parse(std::string_view spec, Position at = kAt) {
    return parse_vif_spec(DeviceSpec{std::string(spec), at});
}

std::string error_of(std::string_view spec) {
    try {
        parse(spec);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

TEST(VifSpec, EmptySpecIsUserModeWithDefaults) {
    const VifConfig v = parse("");
    EXPECT_FALSE(v.mac.has_value());
    EXPECT_TRUE(v.user_mode());
    EXPECT_TRUE(v.ips.empty());
    EXPECT_EQ(v.mtu, 1500u);
    EXPECT_FALSE(v.devid.has_value());
    EXPECT_TRUE(v.forwards.empty());
    EXPECT_EQ(v.pos.to_string(), "d.cfg:5:10");
}

TEST(VifSpec, EveryKeyXenolithHonours) {
    const VifConfig v = parse(
        "mac=00:16:3E:0a:0b:0c, bridge=xenbr0,ip=192.168.1.5 10.0.0.1,vifname=vif-web,"
        "script=vif-bridge,model=e1000,type=vif,devid=3,mtu=9000,backend=Domain-0,"
        "gatewaydev=eth0,");
    ASSERT_TRUE(v.mac.has_value());
    EXPECT_EQ(to_string(*v.mac), "00:16:3e:0a:0b:0c");
    EXPECT_EQ(v.bridge, "xenbr0");
    EXPECT_FALSE(v.user_mode());
    EXPECT_EQ(v.ips, (std::vector<std::string>{"192.168.1.5", "10.0.0.1"}));
    EXPECT_EQ(v.vifname, "vif-web");
    EXPECT_EQ(v.script, "vif-bridge");
    EXPECT_EQ(v.model, "e1000");
    EXPECT_EQ(v.devid, 3u);
    EXPECT_EQ(v.mtu, 9000u);
    EXPECT_EQ(v.gatewaydev, "eth0");
}

TEST(VifSpec, BlanksAroundItemsAndEmptyItemsAreIgnored) {
    const VifConfig v = parse("  bridge = br1 ,, mtu=1400\t,");
    EXPECT_EQ(v.bridge, "br1");
    EXPECT_EQ(v.mtu, 1400u);
}

TEST(VifSpec, MacAddresses) {
    EXPECT_EQ(to_string(*parse("mac=0:16:3e:1:2:3").mac), "00:16:3e:01:02:03");
    EXPECT_EQ(error_of("mac=00:16:3e:00:00"),
              "d.cfg:5:10: vif: mac: '00:16:3e:00:00' is not a MAC address (xx:xx:xx:xx:xx:xx)");
    EXPECT_EQ(error_of("mac=00:16:3e:00:00:100"),
              "d.cfg:5:10: vif: mac: '00:16:3e:00:00:100' is not a MAC address "
              "(xx:xx:xx:xx:xx:xx)");
    EXPECT_EQ(error_of("mac=00:16:3g:00:00:01"),
              "d.cfg:5:10: vif: mac: '00:16:3g:00:00:01' is not a MAC address "
              "(xx:xx:xx:xx:xx:xx)");
    EXPECT_EQ(error_of("mac=01:00:5e:00:00:01"),
              "d.cfg:5:10: vif: mac: '01:00:5e:00:00:01' is a multicast address; a NIC needs a "
              "unicast one (even first byte)");
    EXPECT_EQ(error_of("mac=00:00:00:00:00:00"),
              "d.cfg:5:10: vif: mac: 00:00:00:00:00:00 is not a usable address");
}

TEST(VifSpec, IpAddressesMustBeIpv4) {
    EXPECT_EQ(error_of("ip=10.0.0.1 10.0.0.256"),
              "d.cfg:5:10: vif: ip: '10.0.0.256' is not an IPv4 address (a.b.c.d)");
    EXPECT_EQ(error_of("ip=fe80::1"),
              "d.cfg:5:10: vif: ip: 'fe80::1' is not an IPv4 address (a.b.c.d)");
    EXPECT_EQ(error_of("ip=10.1"), "d.cfg:5:10: vif: ip: '10.1' is not an IPv4 address (a.b.c.d)");
}

TEST(VifSpec, InterfaceNames) {
    EXPECT_EQ(parse("bridge=abcdefghijklmno").bridge, "abcdefghijklmno");  // 15: the most
    EXPECT_EQ(error_of("bridge=abcdefghijklmnop"),
              "d.cfg:5:10: vif: bridge: 'abcdefghijklmnop' is not an interface name (1-15 "
              "characters, no blanks, '/' or ':')");
    EXPECT_EQ(error_of("vifname=a/b"),
              "d.cfg:5:10: vif: vifname: 'a/b' is not an interface name (1-15 characters, no "
              "blanks, '/' or ':')");
    EXPECT_EQ(error_of("gatewaydev=.."),
              "d.cfg:5:10: vif: gatewaydev: '..' is not an interface name (1-15 characters, no "
              "blanks, '/' or ':')");
}

TEST(VifSpec, NumbersInRange) {
    EXPECT_EQ(parse("devid=0x10").devid, 16u);
    EXPECT_EQ(error_of("devid=-1"),
              "d.cfg:5:10: vif: devid: '-1' is not a device number (0 to 2147483647)");
    EXPECT_EQ(error_of("mtu=67"), "d.cfg:5:10: vif: mtu: '67' is out of range (68 to 65535 bytes)");
    EXPECT_EQ(error_of("mtu=65536"),
              "d.cfg:5:10: vif: mtu: '65536' is out of range (68 to 65535 bytes)");
}

TEST(VifSpec, MalformedItemsAndUnknownKeys) {
    EXPECT_EQ(error_of("bridge"), "d.cfg:5:10: vif: expected KEY=VALUE, got 'bridge'");
    EXPECT_EQ(error_of("bridge="), "d.cfg:5:10: vif: bridge: must not be empty");
    EXPECT_EQ(error_of("bridge=a,bridge=b"), "d.cfg:5:10: vif: bridge is given twice");
    EXPECT_EQ(error_of("speed=10"),
              "d.cfg:5:10: vif: unknown key 'speed' (known: mac, bridge, ip, vifname, script, "
              "model, type, devid, mtu, backend, gatewaydev, forward)");
}

TEST(VifSpec, RefusedXlKeys) {
    EXPECT_EQ(error_of("rate=10Mb/s"),
              "d.cfg:5:10: vif: rate= is not supported: Xenolith does not limit a vif's "
              "bandwidth, and a limit that silently does not hold is worse than none");
    EXPECT_EQ(error_of("type=ioemu"),
              "d.cfg:5:10: vif: type=ioemu is not supported: an emulated NIC needs QEMU; use "
              "type=vif");
    EXPECT_EQ(error_of("type=tap"), "d.cfg:5:10: vif: type: 'tap' is not one of vif or ioemu");
    EXPECT_EQ(error_of("backend=netdom"),
              "d.cfg:5:10: vif: backend=netdom is not supported: only Domain-0 (the daemon) "
              "serves vifs");
    EXPECT_EQ(error_of("accel=x"), "d.cfg:5:10: vif: accel= is not supported");
    EXPECT_EQ(error_of("colo_compare_out=x"),
              "d.cfg:5:10: vif: colo_compare_out= is not supported");
    EXPECT_EQ(parse("backend=0").bridge, "");
    EXPECT_EQ(parse("backend=dom0").bridge, "");
}

TEST(VifSpec, OnlyTheDefaultScript) {
    EXPECT_EQ(parse("script=/etc/xen/scripts/vif-bridge").script, "/etc/xen/scripts/vif-bridge");
    EXPECT_EQ(error_of("script=vif-nat"),
              "d.cfg:5:10: vif: script=vif-nat is not supported: Xenolith runs no vif scripts "
              "(only the default, vif-bridge, is accepted); use bridge= for a TAP on a bridge or "
              "leave it out for user-mode networking");
}

TEST(VifForward, AllFourForms) {
    const VifConfig v = parse(
        "forward=8080:80,forward=udp:5353:53,forward=0.0.0.0:2222:22,"
        "forward=tcp:192.168.0.2:8443:443");
    ASSERT_EQ(v.forwards.size(), 4u);
    EXPECT_EQ(v.forwards[0], (PortForward{ForwardProtocol::Tcp, "127.0.0.1", 8080, 80}));
    EXPECT_EQ(v.forwards[1], (PortForward{ForwardProtocol::Udp, "127.0.0.1", 5353, 53}));
    EXPECT_EQ(v.forwards[2], (PortForward{ForwardProtocol::Tcp, "0.0.0.0", 2222, 22}));
    EXPECT_EQ(v.forwards[3], (PortForward{ForwardProtocol::Tcp, "192.168.0.2", 8443, 443}));
}

TEST(VifForward, MalformedForwards) {
    const std::string form = " (expected [tcp:|udp:][HOSTADDR:]HOSTPORT:GUESTPORT)";
    EXPECT_EQ(error_of("forward=80"), "d.cfg:5:10: vif: forward: '80' is malformed" + form);
    EXPECT_EQ(error_of("forward=sctp:1:2:3:4"),
              "d.cfg:5:10: vif: forward: 'sctp:1:2:3:4' is malformed" + form);
    EXPECT_EQ(error_of("forward=tcp:80"), "d.cfg:5:10: vif: forward: 'tcp:80' is malformed" + form);
    EXPECT_EQ(error_of("forward=udp:host:53:53"),
              "d.cfg:5:10: vif: forward: 'udp:host:53:53' has 'host', not an IPv4 address" + form);
    EXPECT_EQ(error_of("forward=0:80"),
              "d.cfg:5:10: vif: forward: '0:80' has a port that is not 1 to 65535" + form);
    EXPECT_EQ(error_of("forward=8080:65536"),
              "d.cfg:5:10: vif: forward: '8080:65536' has a port that is not 1 to 65535" + form);
}

TEST(VifForward, SameHostSocketTwiceInOneVif) {
    EXPECT_EQ(error_of("forward=8080:80,forward=8080:81"),
              "d.cfg:5:10: vif: forward: '8080:81' listens on tcp port 8080 like an earlier "
              "forward= of this vif");
    EXPECT_EQ(error_of("forward=0.0.0.0:8080:80,forward=127.0.0.1:8080:81"),
              "d.cfg:5:10: vif: forward: '127.0.0.1:8080:81' listens on tcp port 8080 like an "
              "earlier forward= of this vif");
    // Different protocol or different specific addresses do not collide.
    EXPECT_EQ(parse("forward=8080:80,forward=udp:8080:80").forwards.size(), 2u);
    EXPECT_EQ(parse("forward=127.0.0.1:8080:80,forward=127.0.0.2:8080:80").forwards.size(), 2u);
}

TEST(VifForward, NeedsUserModeNetworking) {
    EXPECT_EQ(error_of("bridge=xenbr0,forward=8080:80"),
              "d.cfg:5:10: vif: forward= needs user-mode networking, but bridge=xenbr0 gives this "
              "vif a TAP on a bridge");
}

TEST(VifSet, DevidsAreAssignedInOrderAroundExplicitOnes) {
    std::vector<VifConfig> vifs{parse(""), parse("devid=1"), parse(""), parse("devid=7"),
                                parse("")};
    assign_vif_devids(vifs);
    std::vector<std::uint32_t> devids;
    for (const VifConfig& v : vifs) devids.push_back(*v.devid);
    EXPECT_EQ(devids, (std::vector<std::uint32_t>{0, 1, 2, 7, 3}));
}

TEST(VifSet, DuplicateDevidIsRefusedAtTheLaterVif) {
    std::vector<VifConfig> vifs{parse("devid=2"), parse("devid=2", Position{"d.cfg", 6, 4})};
    try {
        assign_vif_devids(vifs);
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "d.cfg:6:4: vif: devid 2 is already used by the vif at d.cfg:5:10");
    }
}

TEST(VifSet, ForwardsOfTwoVifsMustNotShareAHostSocket) {
    std::vector<VifConfig> vifs{parse("forward=udp:0.0.0.0:53:53"),
                                parse("forward=udp:53:5353", Position{"d.cfg", 6, 4})};
    try {
        check_forward_conflicts(vifs);
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(),
                     "d.cfg:6:4: vif: forward of udp port 53 conflicts with the vif at d.cfg:5:10");
    }
    vifs[1] = parse("forward=53:53");  // tcp: no conflict
    EXPECT_NO_THROW(check_forward_conflicts(vifs));
}

// What a saved domain carries of a vif parses back into the same vif.
TEST(VifSpec, ItsTextParsesBackIntoTheSameVif) {
    for (const char* spec :
         {"",
          "mac=00:16:3e:01:02:03, bridge=xenbr0, ip=10.0.0.2 10.0.0.3, vifname=vif7, "
          "script=vif-bridge, model=e1000, gatewaydev=eth0, devid=3, mtu=9000",
          "forward=8080:80, forward=udp:0.0.0.0:5353:53"}) {
        const VifConfig a = parse(spec);
        const VifConfig b = parse(vif_spec_text(a));
        EXPECT_EQ(b.mac, a.mac) << spec;
        EXPECT_EQ(b.bridge, a.bridge);
        EXPECT_EQ(b.ips, a.ips);
        EXPECT_EQ(b.vifname, a.vifname);
        EXPECT_EQ(b.script, a.script);
        EXPECT_EQ(b.model, a.model);
        EXPECT_EQ(b.gatewaydev, a.gatewaydev);
        EXPECT_EQ(b.devid, a.devid);
        EXPECT_EQ(b.mtu, a.mtu);
        EXPECT_EQ(b.forwards, a.forwards) << vif_spec_text(a);
    }
}

}  // namespace
}  // namespace xenolith::xlcfg
