// The network bring-up the vif apps (httpd, netbench) share: open a netfront vif, add it
// to the stack and configure it from the command line:
//   vif=<devid>                     (default 0: device/vif/0)
//   ip=dhcp                         (default) or ip=A.B.C.D/len [gw=A.B.C.D]
//   dhcp_seconds=<s>                (default 30: how long to wait for a lease)
// Errors are printed as one line "<app>: ..." and returned as a negative Xen errno.
#pragma once

#include <pumice/net.hpp>
#include <pumice/netfront.hpp>
#include <pumice/pumice.hpp>

namespace vif_setup {

using pumice::net::Ipv4Address;

// "a.b.c.d" (each 0..255) followed by `end` (one char, or '\0'); returns where parsing
// stopped (past the address), or nullptr when malformed.
inline const char* parse_ipv4(const char* text, Ipv4Address* out) {
    uint32_t value = 0;
    const char* p = text;
    for (int part = 0; part < 4; ++part) {
        if (part && *p++ != '.') return nullptr;
        if (*p < '0' || *p > '9') return nullptr;
        uint32_t octet = 0;
        for (int digits = 0; *p >= '0' && *p <= '9'; ++p) {
            if (++digits > 3) return nullptr;
            octet = octet * 10 + static_cast<uint32_t>(*p - '0');
        }
        if (octet > 255) return nullptr;
        value = value << 8 | octet;
    }
    *out = Ipv4Address::from_host_order(value);
    return p;
}

inline const char* text(Ipv4Address address) {
    static char bufs[4][16];
    static unsigned next;
    char* buf = bufs[next++ % 4];
    return address.format(buf, sizeof(bufs[0]));
}

struct Config {
    uint32_t devid = 0;
    bool dhcp = true;
    Ipv4Address address, netmask, gateway;
    uint64_t dhcp_timeout_ns = 30 * pumice::time::kNsPerSec;
};

// The options above; false (with a line printed) when one is malformed.
inline bool parse(const char* app, Config* config) {
    using namespace pumice;
    config->devid = static_cast<uint32_t>(cmdline::get_u64("vif", 0));
    config->dhcp_timeout_ns =
        cmdline::get_scaled("dhcp_seconds", time::kNsPerSec, 30 * time::kNsPerSec);
    const char* ip = cmdline::get_str("ip", "dhcp");
    if (strcmp(ip, "dhcp") == 0) return true;
    config->dhcp = false;
    const char* p = parse_ipv4(ip, &config->address);
    uint64_t len = 0;
    if (p && *p == '/' && p[1] >= '0' && p[1] <= '9') {
        for (++p; *p >= '0' && *p <= '9' && len <= 32; ++p) len = len * 10 + (*p - '0');
    } else {
        p = nullptr;
    }
    if (!p || *p || len == 0 || len > 32) {
        printf("%s: bad ip=%s: want dhcp or A.B.C.D/len\n", app, ip);
        return false;
    }
    config->netmask = Ipv4Address::from_host_order(len == 32 ? ~0u : ~(~0u >> len));
    const char* gw = cmdline::get_str("gw", "");
    if (*gw) {
        const char* end = parse_ipv4(gw, &config->gateway);
        if (!end || *end) {
            printf("%s: bad gw=%s: want A.B.C.D\n", app, gw);
            return false;
        }
    }
    return true;
}

// Opens the vif, adds it to `stack` and configures it; *out is the interface. 0 or a
// negative Xen errno (a line printed).
inline long bring_up(const char* app, const Config& config, pumice::netfront::Device& vif,
                     pumice::net::Stack& stack, pumice::net::Interface** out) {
    using namespace pumice;
    if (long rc = vif.open(config.devid); rc < 0) {
        printf("%s: no network: cannot open device/vif/%u: rc=%ld%s\n", app, config.devid, rc,
               rc == -XEN_ENODEV ? " (no such vif)" : "");
        return rc;
    }
    net::InterfaceConfig ic;
    ic.mac = vif.mac();
    net::Interface* eth = stack.add_interface(vif, ic);
    if (!eth) {
        printf("%s: no network: the stack has no room for %s\n", app, vif.name());
        return -XEN_ENOMEM;
    }
    vif.attach(*eth);
    eth->set_default();
    if (config.dhcp) {
        if (long rc = eth->start_dhcp(); rc < 0) {
            printf("%s: no network: DHCP cannot start: rc=%ld\n", app, rc);
            return rc;
        }
    } else {
        eth->set_static(config.address, config.netmask, config.gateway);
    }
    if (!eth->wait_for_address(config.dhcp ? config.dhcp_timeout_ns : 0)) {
        printf("%s: no network: no DHCP lease on %s after %llu ms\n", app, vif.name(),
               static_cast<unsigned long long>(config.dhcp_timeout_ns / time::kNsPerMs));
        return -XEN_ETIMEDOUT;
    }
    const uint8_t* m = ic.mac.bytes;
    printf("%s: %s mac=%02x:%02x:%02x:%02x:%02x:%02x address=%s netmask=%s gateway=%s (%s)\n", app,
           vif.name(), m[0], m[1], m[2], m[3], m[4], m[5], text(eth->address()),
           text(eth->netmask()), text(eth->gateway()), config.dhcp ? "dhcp" : "static");
    *out = eth;
    return 0;
}

}  // namespace vif_setup
