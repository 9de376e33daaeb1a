#include "toolstack/launch/nic_device.hpp"

#include "backends/netback/netback_driver.hpp"
#include "backends/netback/slirp_link.hpp"
#include "backends/netback/tap_link.hpp"
#include "base/error.hpp"

namespace xenolith::launch {

xlcfg::MacAddress default_mac(const hv::Domain& domain, uint32_t devid) {
    // FNV-1a over the uuid and devid: stable, and different for every device of a domain.
    uint32_t h = 2166136261u;
    auto mix = [&h](uint8_t b) { h = (h ^ b) * 16777619u; };
    for (uint8_t b : domain.uuid()) mix(b);
    for (int i = 0; i < 4; ++i) mix(static_cast<uint8_t>(devid >> (8 * i)));
    return {0x00,
            0x16,
            0x3e,
            static_cast<uint8_t>((h >> 16) & 0x7f),
            static_cast<uint8_t>(h >> 8),
            static_cast<uint8_t>(h)};
}

DeviceNodes vif_nodes(const hv::Domain& domain, const xlcfg::VifConfig& vif,
                      const xlcfg::MacAddress& mac) {
    const std::string devid = std::to_string(*vif.devid);
    const std::string mac_text = xlcfg::to_string(mac);
    DeviceNodes n{
        {domain.id(), "vif", *vif.devid},
        {{"handle", devid}, {"mac", mac_text}},
        {{"handle", devid}, {"mac", mac_text}, {"type", "vif"}, {"mtu", std::to_string(vif.mtu)}}};
    if (!vif.user_mode()) {
        n.backend.emplace_back("bridge", vif.bridge);
        n.backend.emplace_back("script", vif.script.empty() ? "vif-bridge" : vif.script);
    }
    if (!vif.ips.empty()) {
        std::string ips;
        for (const auto& ip : vif.ips) ips += (ips.empty() ? "" : " ") + ip;
        n.backend.emplace_back("ip", ips);
    }
    if (!vif.vifname.empty()) n.backend.emplace_back("vifname", vif.vifname);
    return n;
}

namespace {

std::unique_ptr<netback::HostLink> make_link(const hv::Domain& domain, const xlcfg::VifConfig& vif,
                                             const DeviceSet::Log& log) {
    if (!vif.user_mode()) {
        std::string name = vif.vifname.empty()
                               ? netback::TapLink::default_name(domain.id(), *vif.devid)
                               : vif.vifname;
        return std::make_unique<netback::TapLink>(name, vif.bridge);
    }
    std::vector<netback::PortForward> forwards;
    for (const xlcfg::PortForward& f : vif.forwards)
        forwards.push_back(
            {f.protocol == xlcfg::ForwardProtocol::Udp, f.host_address, f.host_port, f.guest_port});
    const std::string who =
        "vif " + std::to_string(*vif.devid) + " of domain " + std::to_string(domain.id());
    return std::make_unique<netback::SlirpLink>(
        std::move(forwards), [log, who](const std::string& line) { log(who + ": " + line); });
}

}  // namespace

void attach_vif(DeviceSet& devices, std::shared_ptr<hv::Domain> domain, const xlcfg::VifConfig& vif,
                bool restored) {
    if (!vif.devid) throw Error(vif.pos.to_string() + ": vif: no device id assigned");
    const xlcfg::MacAddress mac = vif.mac.value_or(default_mac(*domain, *vif.devid));
    const DeviceNodes nodes = vif_nodes(*domain, vif, mac);
    try {
        auto link = make_link(*domain, vif, devices.log());
        devices.add(nodes,
                    std::make_unique<netback::NetbackDriver>(std::move(domain), std::move(link)),
                    restored);
    } catch (const Error& e) {
        throw Error(vif.pos.to_string() + ": vif " + std::to_string(*vif.devid) + ": " + e.what());
    }
}

void attach_vifs(DeviceSet& devices, const std::shared_ptr<hv::Domain>& domain,
                 const std::vector<xlcfg::VifConfig>& vifs, bool restored) {
    for (const xlcfg::VifConfig& vif : vifs) attach_vif(devices, domain, vif, restored);
}

}  // namespace xenolith::launch
