// A running domain's split devices: attach, detach and list, as xl block-attach,
// block-detach and block-list do them. The config the domain restarts with follows each
// change, as xl keeps a hot-plugged disk across reboots.
#include <algorithm>

#include "base/error.hpp"
#include "toolstack/api/protocol.hpp"
#include "toolstack/daemon/domain_manager.hpp"
#include "toolstack/daemon/managed_domain.hpp"
#include "toolstack/launch/disk_device.hpp"
#include "toolstack/launch/nic_device.hpp"
#include "toolstack/xlcfg/disk_spec.hpp"
#include "toolstack/xlcfg/vif_spec.hpp"

namespace xenolith::daemon {

using api::ApiError;

namespace {

// The domain's device set, under its op_mutex; EPERM for Domain-0, ESRCH once it is gone.
launch::DeviceSet& devices_of(ManagedDomain& md) {
    if (md.torn_down || !md.guest.devices)
        throw ApiError("ESRCH",
                       "domain " + std::to_string(md.domid()) + " has no devices any more");
    return *md.guest.devices;
}

int number_node(const std::map<std::string, std::string>& nodes, const std::string& key) {
    auto it = nodes.find(key);
    if (it == nodes.end()) return -1;
    try {
        return std::stoi(it->second);
    } catch (const std::exception&) {
        return -1;
    }
}

}  // namespace

void DomainManager::attach_devices(ManagedDomain& md, bool restored) {
    launch::attach_disks(*md.guest.devices, md.domain, md.cfg.disk_configs, md.cwd, restored);
    launch::attach_vifs(*md.guest.devices, md.domain, md.cfg.vif_configs, restored);
}

std::shared_ptr<ManagedDomain> DomainManager::device_domain(uint32_t domid) const {
    if (domid == 0) throw ApiError("EPERM", "Domain-0's devices are the host's");
    auto md = find(domid);
    if (!md) throw ApiError("ENOENT", "domain " + std::to_string(domid) + " does not exist");
    return md;
}

void DomainManager::block_attach(uint32_t domid, const std::string& spec, const std::string& cwd) {
    auto md = device_domain(domid);
    xlcfg::DiskConfig disk;
    try {
        disk = xlcfg::parse_disk_spec({spec, xlcfg::Position{"block-attach", 0, 0}});
    } catch (const xlcfg::ConfigError& e) {
        throw ApiError("EINVAL", e.what());
    }
    std::lock_guard op(md->op_mutex);
    launch::DeviceSet& devices = devices_of(*md);
    if (devices.contains("vbd", disk.devid))
        throw ApiError("EEXIST", "domain " + std::to_string(domid) + " already has a disk " +
                                     disk.vdev + " (devid " + std::to_string(disk.devid) + ")");
    const std::string path = launch::resolve_target(disk.target, cwd);
    try {
        launch::attach_disk(devices, md->domain, disk, path);
    } catch (const Error& e) {
        throw ApiError("EINVAL", e.what());
    }
    disk.target = path;  // a restart must not depend on the client's directory
    md->cfg.disk_configs.push_back(disk);
    log_.domain(md->cfg.name, domid, "disk " + disk.vdev + " attached: " + path);
}

void DomainManager::block_detach(uint32_t domid, const std::string& device,
                                 std::chrono::milliseconds timeout) {
    auto md = device_domain(domid);
    auto devid = xlcfg::vdev_to_devid(device);
    if (!devid) throw ApiError("EINVAL", "'" + device + "' is neither a vdev nor a device id");
    std::lock_guard op(md->op_mutex);
    if (!devices_of(*md).remove("vbd", *devid, timeout))
        throw ApiError("ENOENT", "domain " + std::to_string(domid) + " has no disk " + device);
    auto& disks = md->cfg.disk_configs;
    disks.erase(std::remove_if(disks.begin(), disks.end(),
                               [&](const xlcfg::DiskConfig& d) { return d.devid == *devid; }),
                disks.end());
    log_.domain(md->cfg.name, domid, "disk " + device + " detached");
}

std::vector<format::DiskInfo> DomainManager::block_list(uint32_t domid) const {
    auto md = device_domain(domid);
    std::lock_guard op(md->op_mutex);
    std::vector<format::DiskInfo> out;
    for (const launch::DeviceStatus& s : devices_of(*md).list("vbd")) {
        format::DiskInfo d;
        d.devid = s.paths.devid;
        d.backend_domid = 0;
        d.handle = domid;
        d.state = static_cast<int>(s.backend_state);
        d.evtch = number_node(s.frontend, "event-channel");
        d.ring_ref =
            number_node(s.frontend, s.frontend.count("ring-ref") ? "ring-ref" : "ring-ref0");
        d.backend_path = s.paths.backend();
        out.push_back(d);
    }
    return out;
}

void DomainManager::network_attach(uint32_t domid, const std::string& spec) {
    auto md = device_domain(domid);
    xlcfg::VifConfig vif;
    try {
        vif = xlcfg::parse_vif_spec({spec, xlcfg::Position{"network-attach", 0, 0}});
    } catch (const xlcfg::ConfigError& e) {
        throw ApiError("EINVAL", e.what());
    }
    std::lock_guard op(md->op_mutex);
    launch::DeviceSet& devices = devices_of(*md);
    if (vif.devid && devices.contains("vif", *vif.devid))
        throw ApiError("EEXIST", "domain " + std::to_string(domid) + " already has a vif " +
                                     std::to_string(*vif.devid));
    // As libxl: the lowest devid not in use.
    for (uint32_t id = 0; !vif.devid; ++id)
        if (!devices.contains("vif", id)) vif.devid = id;
    std::vector<xlcfg::VifConfig> all = md->cfg.vif_configs;
    all.push_back(vif);
    try {
        xlcfg::check_forward_conflicts(all);
        launch::attach_vif(devices, md->domain, vif);
    } catch (const Error& e) {
        throw ApiError("EINVAL", e.what());
    }
    md->cfg.vif_configs.push_back(vif);
    log_.domain(md->cfg.name, domid, "vif " + std::to_string(*vif.devid) + " attached");
}

void DomainManager::network_detach(uint32_t domid, const std::string& device,
                                   std::chrono::milliseconds timeout) {
    auto md = device_domain(domid);
    std::lock_guard op(md->op_mutex);
    launch::DeviceSet& devices = devices_of(*md);
    std::optional<uint32_t> devid;
    if (auto mac = xlcfg::parse_mac(device)) {
        for (const launch::DeviceStatus& s : devices.list("vif"))
            if (s.backend.count("mac") && xlcfg::parse_mac(s.backend.at("mac")) == mac)
                devid = s.paths.devid;
    } else if (!device.empty() && device.find_first_not_of("0123456789") == std::string::npos &&
               device.size() < 10) {
        devid = static_cast<uint32_t>(std::stoul(device));
    } else {
        throw ApiError("EINVAL", "'" + device + "' is neither a device id nor a MAC address");
    }
    if (!devid || !devices.remove("vif", *devid, timeout))
        throw ApiError("ENOENT", "domain " + std::to_string(domid) + " has no vif " + device);
    auto& vifs = md->cfg.vif_configs;
    vifs.erase(std::remove_if(vifs.begin(), vifs.end(),
                              [&](const xlcfg::VifConfig& v) { return v.devid == devid; }),
               vifs.end());
    log_.domain(md->cfg.name, domid, "vif " + std::to_string(*devid) + " detached");
}

std::vector<format::NicInfo> DomainManager::network_list(uint32_t domid) const {
    auto md = device_domain(domid);
    std::lock_guard op(md->op_mutex);
    std::vector<format::NicInfo> out;
    for (const launch::DeviceStatus& s : devices_of(*md).list("vif")) {
        format::NicInfo n;
        n.devid = s.paths.devid;
        n.backend_domid = 0;
        if (s.backend.count("mac"))
            if (auto mac = xlcfg::parse_mac(s.backend.at("mac"))) n.mac = *mac;
        n.state = static_cast<int>(s.backend_state);
        n.evtch = number_node(s.frontend, "event-channel");
        n.tx_ring_ref = number_node(s.frontend, "tx-ring-ref");
        n.rx_ring_ref = number_node(s.frontend, "rx-ring-ref");
        n.backend_path = s.paths.backend();
        out.push_back(n);
    }
    return out;
}

}  // namespace xenolith::daemon
