// vif= specs: KEY=VALUE items split on commas (the syntax of xl's parse_nic_config), each
// checked as it is read so that the error names the item at fault.
#include "toolstack/xlcfg/vif_spec.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace xenolith::xlcfg {

namespace {

constexpr std::string_view kBlanks = " \t";

std::string_view trim(std::string_view s) {
    const std::size_t first = s.find_first_not_of(kBlanks);
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(kBlanks) - first + 1);
}

std::string quoted(std::string_view text) {
    return "'" + printable(text) + "'";
}

bool is_ipv4(std::string_view text) {
    in_addr addr{};
    return inet_pton(AF_INET, std::string(text).c_str(), &addr) == 1;
}

// A Linux interface name (dev_valid_name): 1 to 15 bytes, printable, no blank, '/' or ':',
// and not "." or "..".
bool valid_ifname(std::string_view name) {
    if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
    return std::ranges::all_of(name,
                               [](char c) { return c > ' ' && c < 0x7f && c != '/' && c != ':'; });
}

// A decimal port number 1..65535.
bool parse_port(std::string_view text, std::uint16_t& port) {
    if (text.empty() || text.size() > 5) return false;
    unsigned n = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n == 0 || n > 65535) return false;
    port = static_cast<std::uint16_t>(n);
    return true;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (;;) {
        const std::size_t at = text.find(separator);
        parts.push_back(text.substr(0, at));
        if (at == std::string_view::npos) return parts;
        text.remove_prefix(at + 1);
    }
}

// The host sockets that forwards listen on, to find two that would collide: the same
// protocol and port, and the same address or either of them 0.0.0.0. Addresses are
// compared as text, which is exact because inet_pton accepts only one spelling of each.
class ForwardSockets {
  public:
    // Records `fwd`, made at `where`; if it collides with one recorded before, returns
    // that one's position instead.
    std::optional<Position> add(const PortForward& fwd, const Position& where) {
        static constexpr std::string_view kAny = "0.0.0.0";
        auto& listeners = ports_[{fwd.protocol, fwd.host_port}];
        if (auto same = listeners.find(fwd.host_address); same != listeners.end())
            return same->second;
        if (auto any = listeners.find(kAny); any != listeners.end()) return any->second;
        if (fwd.host_address == kAny && !listeners.empty()) return listeners.begin()->second;
        listeners.emplace(fwd.host_address, where);
        return std::nullopt;
    }

  private:
    std::map<std::pair<ForwardProtocol, std::uint16_t>,
             std::map<std::string, Position, std::less<>>>
        ports_;
};

// Reads one spec; `fail` throws at the spec's position.
class VifParser {
  public:
    explicit VifParser(const DeviceSpec& spec) : spec_(spec) { vif_.pos = spec.pos; }

    VifConfig parse() {
        for (std::string_view item : split(spec_.spec, ',')) {
            item = trim(item);
            if (item.empty()) continue;  // "a=1,,b=2" and a trailing ',' as xl
            const std::size_t eq = item.find('=');
            if (eq == std::string_view::npos) fail("expected KEY=VALUE, got " + quoted(item));
            const std::string_view key = trim(item.substr(0, eq));
            const std::string_view value = trim(item.substr(eq + 1));
            if (key != "forward" && !seen_.insert(std::string(key)).second)
                fail(printable(key) + " is given twice");
            if (value.empty()) fail(printable(key) + ": must not be empty");
            apply(key, value);
        }
        if (!vif_.forwards.empty() && !vif_.user_mode())
            fail("forward= needs user-mode networking, but bridge=" + printable(vif_.bridge) +
                 " gives this vif a TAP on a bridge");
        return std::move(vif_);
    }

  private:
    [[noreturn]] void fail(std::string_view message) const {
        throw ConfigError(spec_.pos, "vif: " + std::string(message));
    }

    void apply(std::string_view key, std::string_view value) {
        if (key == "mac") return set_mac(value);
        if (key == "bridge") return set_ifname(key, value, vif_.bridge);
        if (key == "ip") return set_ips(value);
        if (key == "vifname") return set_ifname(key, value, vif_.vifname);
        if (key == "gatewaydev") return set_ifname(key, value, vif_.gatewaydev);
        if (key == "script") return set_script(value);
        if (key == "model") return set_model(value);
        if (key == "type") return check_type(value);
        if (key == "devid") return set_devid(value);
        if (key == "mtu") return set_mtu(value);
        if (key == "backend") return check_backend(value);
        if (key == "forward") return add_forward(value);
        if (key == "rate")
            fail(
                "rate= is not supported: Xenolith does not limit a vif's bandwidth, and a "
                "limit that silently does not hold is worse than none");
        if (key == "accel" || key == "netdev" || key == "forwarddev" || key.starts_with("colo_"))
            fail(printable(key) + "= is not supported");
        fail("unknown key " + quoted(key) +
             " (known: mac, bridge, ip, vifname, script, model, type, devid, mtu, backend, "
             "gatewaydev, forward)");
    }

    void set_mac(std::string_view value) {
        const std::optional<MacAddress> mac = parse_mac(value);
        if (!mac) fail("mac: " + quoted(value) + " is not a MAC address (xx:xx:xx:xx:xx:xx)");
        if ((*mac)[0] & 1)
            fail("mac: " + quoted(value) +
                 " is a multicast address; a NIC needs a unicast one (even first byte)");
        if (*mac == MacAddress{}) fail("mac: 00:00:00:00:00:00 is not a usable address");
        vif_.mac = mac;
    }

    void set_ifname(std::string_view key, std::string_view value, std::string& out) {
        if (!valid_ifname(value))
            fail(printable(key) + ": " + quoted(value) +
                 " is not an interface name (1-15 characters, no blanks, '/' or ':')");
        out = value;
    }

    // ip= is a blank-separated list, as libxl writes it to xenstore.
    void set_ips(std::string_view value) {
        for (std::string_view ip : split(value, ' ')) {
            ip = trim(ip);
            if (ip.empty()) continue;
            if (!is_ipv4(ip)) fail("ip: " + quoted(ip) + " is not an IPv4 address (a.b.c.d)");
            vif_.ips.emplace_back(ip);
        }
    }

    // Xenolith runs no hotplug scripts; it attaches vifs itself. vif-bridge, xl's default,
    // describes what it does anyway, so naming it is harmless.
    void set_script(std::string_view value) {
        if (value != "vif-bridge" && value != "/etc/xen/scripts/vif-bridge")
            fail("script=" + printable(value) +
                 " is not supported: Xenolith runs no vif scripts (only the default, "
                 "vif-bridge, is accepted); use bridge= for a TAP on a bridge or leave it out "
                 "for user-mode networking");
        vif_.script = value;
    }

    void set_model(std::string_view value) {
        if (!std::ranges::all_of(value, [](char c) { return c > ' ' && c < 0x7f; }))
            fail("model: " + quoted(value) + " is not a model name");
        vif_.model = value;
    }

    void check_type(std::string_view value) {
        if (value == "ioemu")
            fail("type=ioemu is not supported: an emulated NIC needs QEMU; use type=vif");
        if (value != "vif") fail("type: " + quoted(value) + " is not one of vif or ioemu");
    }

    void set_devid(std::string_view value) {
        unsigned long long n = 0;
        if (!parse_number(value, n) || n > kMaxVifDevid)
            fail("devid: " + quoted(value) + " is not a device number (0 to " +
                 std::to_string(kMaxVifDevid) + ")");
        vif_.devid = static_cast<std::uint32_t>(n);
    }

    void set_mtu(std::string_view value) {
        unsigned long long n = 0;
        if (!parse_number(value, n) || n < kMinMtu || n > kMaxMtu)
            fail("mtu: " + quoted(value) + " is out of range (" + std::to_string(kMinMtu) + " to " +
                 std::to_string(kMaxMtu) + " bytes)");
        vif_.mtu = static_cast<unsigned>(n);
    }

    void check_backend(std::string_view value) {
        if (value != "0" && value != "dom0" && value != "Domain-0")
            fail("backend=" + printable(value) +
                 " is not supported: only Domain-0 (the daemon) serves vifs");
    }

    void add_forward(std::string_view value) {
        const std::vector<std::string_view> parts = split(value, ':');
        auto bad = [&](std::string_view why) {
            fail("forward: " + quoted(value) + " " + std::string(why) +
                 " (expected [tcp:|udp:][HOSTADDR:]HOSTPORT:GUESTPORT)");
        };
        if (parts.size() < 2 || parts.size() > 4) bad("is malformed");
        PortForward fwd;
        std::size_t next = 0;
        const bool has_protocol = parts[0] == "tcp" || parts[0] == "udp";
        if (has_protocol) {
            fwd.protocol = parts[0] == "udp" ? ForwardProtocol::Udp : ForwardProtocol::Tcp;
            ++next;
        }
        if (parts.size() - next == 3) {
            if (!is_ipv4(parts[next])) bad("has " + quoted(parts[next]) + ", not an IPv4 address");
            fwd.host_address = parts[next++];
        }
        if (parts.size() - next != 2) bad("is malformed");
        if (!parse_port(parts[next], fwd.host_port) || !parse_port(parts[next + 1], fwd.guest_port))
            bad("has a port that is not 1 to 65535");
        if (sockets_.add(fwd, spec_.pos))
            fail("forward: " + quoted(value) + " listens on " +
                 std::string(to_string(fwd.protocol)) + " port " + std::to_string(fwd.host_port) +
                 " like an earlier forward= of this vif");
        vif_.forwards.push_back(std::move(fwd));
    }

    const DeviceSpec& spec_;
    VifConfig vif_;
    std::set<std::string, std::less<>> seen_;
    ForwardSockets sockets_;
};

}  // namespace

std::string_view to_string(ForwardProtocol protocol) {
    return protocol == ForwardProtocol::Udp ? "udp" : "tcp";
}

std::optional<MacAddress> parse_mac(std::string_view text) {
    const std::vector<std::string_view> parts = split(text, ':');
    if (parts.size() != 6) return std::nullopt;
    MacAddress mac{};
    for (std::size_t i = 0; i < 6; ++i) {
        const std::string_view hex = parts[i];
        if (hex.empty() || hex.size() > 2) return std::nullopt;
        unsigned byte = 0;
        for (char c : hex) {
            unsigned digit = 0;
            if (c >= '0' && c <= '9')
                digit = static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                digit = static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                digit = static_cast<unsigned>(c - 'A' + 10);
            else
                return std::nullopt;
            byte = byte * 16 + digit;
        }
        mac[i] = static_cast<std::uint8_t>(byte);
    }
    return mac;
}

std::string to_string(const MacAddress& mac) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < mac.size(); ++i) {
        if (i > 0) out += ':';
        out += kHex[mac[i] >> 4];
        out += kHex[mac[i] & 0xf];
    }
    return out;
}

VifConfig parse_vif_spec(const DeviceSpec& spec) {
    return VifParser(spec).parse();
}

void assign_vif_devids(std::vector<VifConfig>& vifs) {
    std::map<std::uint32_t, const VifConfig*> taken;
    for (const VifConfig& vif : vifs) {
        if (!vif.devid) continue;
        const auto [it, fresh] = taken.emplace(*vif.devid, &vif);
        if (!fresh)
            throw ConfigError(vif.pos, "vif: devid " + std::to_string(*vif.devid) +
                                           " is already used by the vif at " +
                                           it->second->pos.to_string());
    }
    std::uint32_t next = 0;
    for (VifConfig& vif : vifs) {
        if (vif.devid) continue;
        while (taken.contains(next)) ++next;
        vif.devid = next;
        taken.emplace(next, &vif);
    }
}

void check_forward_conflicts(const std::vector<VifConfig>& vifs) {
    ForwardSockets sockets;
    for (const VifConfig& vif : vifs)
        for (const PortForward& fwd : vif.forwards)
            if (const std::optional<Position> earlier = sockets.add(fwd, vif.pos))
                throw ConfigError(
                    vif.pos, "vif: forward of " + std::string(to_string(fwd.protocol)) + " port " +
                                 std::to_string(fwd.host_port) + " conflicts with the vif at " +
                                 earlier->to_string());
}

std::string vif_spec_text(const VifConfig& vif) {
    std::vector<std::string> parts;
    auto add = [&parts](std::string_view key, std::string_view value) {
        if (!value.empty()) parts.push_back(std::string(key) + "=" + std::string(value));
    };
    if (vif.mac) add("mac", to_string(*vif.mac));
    add("bridge", vif.bridge);
    std::string ips;
    for (const auto& ip : vif.ips) ips += (ips.empty() ? "" : " ") + ip;
    add("ip", ips);
    add("vifname", vif.vifname);
    add("script", vif.script);
    add("model", vif.model);
    add("gatewaydev", vif.gatewaydev);
    if (vif.devid) add("devid", std::to_string(*vif.devid));
    if (vif.mtu != kDefaultMtu) add("mtu", std::to_string(vif.mtu));
    for (const PortForward& f : vif.forwards)
        add("forward", std::string(to_string(f.protocol)) + ":" + f.host_address + ":" +
                           std::to_string(f.host_port) + ":" + std::to_string(f.guest_port));
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out;
}

}  // namespace xenolith::xlcfg
