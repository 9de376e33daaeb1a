// vif= entries. xl has no library parser for these (xl_parse.c's parse_nic_config splits
// the spec on commas into KEY=VALUE items), so this is ours, with the same syntax:
//
//   vif = [ 'mac=00:16:3e:01:02:03,bridge=xenbr0', 'forward=8080:80,forward=udp:5353:53' ]
//
// Items are separated by ',' and may be surrounded by blanks; empty items are skipped.
// Keys: mac, bridge, ip, vifname, script, model, type, devid, mtu, backend, gatewaydev,
// and Xenolith's forward (docs/xl-cfg.md). Every key but forward may appear once. Unknown
// keys, and xl keys Xenolith cannot honour (rate, accel, the colo_* family, type=ioemu,
// scripts other than vif-bridge), are errors at the spec's position.
//
// Without bridge= the vif gets user-mode networking (libslirp NAT in the daemon, with
// forward= for inbound ports); with bridge= it gets a TAP device on that host bridge.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "toolstack/xlcfg/device_spec.hpp"
#include "toolstack/xlcfg/parser.hpp"

namespace xenolith::xlcfg {

using MacAddress = std::array<std::uint8_t, 6>;

inline constexpr unsigned kDefaultMtu = 1500;  // libxl's default
inline constexpr unsigned kMinMtu = 68;        // the least an IPv4 link may carry
inline constexpr unsigned kMaxMtu = 65535;
inline constexpr std::uint32_t kMaxVifDevid = 0x7fffffff;  // libxl keeps devids in an int

enum class ForwardProtocol { Tcp, Udp };

std::string_view to_string(ForwardProtocol protocol);  // "tcp", "udp"

// forward=[tcp:|udp:][HOSTADDR:]HOSTPORT:GUESTPORT: connections to HOSTADDR:HOSTPORT on
// the host reach the guest's GUESTPORT through the user-mode network.
struct PortForward {
    ForwardProtocol protocol = ForwardProtocol::Tcp;
    std::string host_address = "127.0.0.1";  // dotted-quad IPv4; 0.0.0.0 is every address
    std::uint16_t host_port = 0;             // 1..65535
    std::uint16_t guest_port = 0;            // 1..65535

    bool operator==(const PortForward&) const = default;
};

struct VifConfig {
    std::optional<MacAddress> mac;       // nullopt: the daemon generates one (00:16:3e:...)
    std::string bridge;                  // empty: user-mode networking
    std::vector<std::string> ips;        // ip=: dotted-quad IPv4 addresses, as written
    std::string vifname;                 // the TAP's name with bridge=; empty: the daemon's choice
    std::string script;                  // empty or the default, "vif-bridge"; never run
    std::string model;                   // accepted and unused: PV domains have no emulated NIC
    std::string gatewaydev;              // accepted and unused: only vif-nat/vif-route read it
    std::optional<std::uint32_t> devid;  // to_domain_config() fills it (0, 1, ... in order)
    unsigned mtu = kDefaultMtu;
    std::vector<PortForward> forwards;  // only without bridge=
    Position pos;                       // where the spec was written

    bool user_mode() const { return bridge.empty(); }
};

// Parses one vif= entry. Throws ConfigError "<file>:<line>:<col>: vif: <reason>" at the
// spec's position.
VifConfig parse_vif_spec(const DeviceSpec& spec);

// The spec that parses back into `vif` (its position aside): what a saved domain carries
// of its network interfaces.
std::string vif_spec_text(const VifConfig& vif);

// "xx:xx:xx:xx:xx:xx": six bytes of one or two hex digits each (as xl reads mac=).
std::optional<MacAddress> parse_mac(std::string_view text);
std::string to_string(const MacAddress& mac);  // lower-case, two digits a byte

// Gives every vif without a devid the next number not taken (0, 1, ... in list order,
// skipping devids given explicitly). Throws ConfigError at the later vif for a devid
// given twice.
void assign_vif_devids(std::vector<VifConfig>& vifs);

// Throws ConfigError at the later vif if two vifs' forwards would listen on the same host
// socket: same protocol and port, and the same address or either 0.0.0.0 (parse_vif_spec()
// already checks the forwards within one vif).
void check_forward_conflicts(const std::vector<VifConfig>& vifs);

}  // namespace xenolith::xlcfg
