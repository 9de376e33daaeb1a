#include "toolstack/launch/disk_device.hpp"

#include <filesystem>

#include "backends/blkback/vbd_driver.hpp"
#include "base/error.hpp"

namespace xenolith::launch {

DeviceNodes vbd_nodes(domid_t domid, const xlcfg::DiskConfig& disk, const std::string& path) {
    const std::string devid = std::to_string(disk.devid);
    return {{domid, "vbd", disk.devid},
            {{"virtual-device", devid}, {"device-type", std::string(disk.device_type())}},
            {{"dev", disk.vdev},
             {"type", disk.backend_type},
             {"mode", std::string(disk.mode())},
             {"device-type", std::string(disk.device_type())},
             {"params", path},
             {"removable", "0"},
             {"bootable", "1"},
             {"discard-enable", disk.discard ? "1" : "0"}}};
}

void attach_disk(DeviceSet& devices, std::shared_ptr<hv::Domain> domain,
                 const xlcfg::DiskConfig& disk, const std::string& path, bool restored) {
    const DeviceNodes nodes = vbd_nodes(domain->id(), disk, path);
    std::shared_ptr<blkback::Image> image;
    try {
        image = blkback::Image::open(path, disk.readonly ? blkback::Image::Access::ReadOnly
                                                         : blkback::Image::Access::ReadWrite);
    } catch (const Error& e) {
        throw Error(disk.pos.to_string() + ": disk " + disk.vdev + ": " + e.what());
    }
    blkback::BlkConnection::Options opts;
    opts.discard = disk.discard;
    opts.cdrom = disk.cdrom;
    opts.log = [log = devices.log()](std::string_view line) { log(std::string(line)); };
    auto driver = std::make_unique<blkback::VbdDriver>(std::move(domain), std::move(image), opts,
                                                       nodes.paths.name());
    try {
        devices.add(nodes, std::move(driver), restored);
    } catch (const Error& e) {
        throw Error(disk.pos.to_string() + ": disk " + disk.vdev + ": " + e.what());
    }
}

void attach_disks(DeviceSet& devices, const std::shared_ptr<hv::Domain>& domain,
                  const std::vector<xlcfg::DiskConfig>& disks, const std::string& cwd,
                  bool restored) {
    for (const xlcfg::DiskConfig& disk : disks)
        attach_disk(devices, domain, disk, resolve_target(disk.target, cwd), restored);
}

std::string resolve_target(const std::string& target, const std::string& cwd) {
    std::filesystem::path p(target);
    if (p.is_relative() && !cwd.empty()) p = std::filesystem::path(cwd) / p;
    return p.string();
}

}  // namespace xenolith::launch
