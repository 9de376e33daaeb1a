// disk= entries: xl's disk spec syntax (Xen's docs/misc/xl-disk-configuration.txt),
// parsed by Xen's own parser (libxlutil's xlu_disk_parse) and narrowed to what Xenolith's
// block backend serves: raw images and block devices, with no QEMU and no hotplug scripts.
// The result is a plain struct; nothing of libxl shows through this header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "toolstack/xlcfg/device_spec.hpp"
#include "toolstack/xlcfg/parser.hpp"

namespace xenolith::xlcfg {

// The image format. Only raw is served (qcow, qcow2, vhd and qed need QEMU); the others
// are refused by parse_disk_spec() and so never appear here.
enum class DiskFormat { Raw };

std::string_view to_string(DiskFormat format);  // "raw"

struct DiskConfig {
    // The block device or image file as written (never empty). Whether it exists, and
    // whether it is a block device, the daemon checks when it opens it.
    std::string target;
    std::string vdev;         // as written: "xvda", "hdc", "d0p1", "51712"
    std::uint32_t devid = 0;  // vdev in Xen's encoding: the xenstore directory name
    bool readonly = false;    // access=ro/r, and always for a cdrom
    bool cdrom = false;       // devtype=cdrom
    DiskFormat format = DiskFormat::Raw;
    // The backend node `type`: "phy" with backendtype=phy or a target under /dev/, else
    // "file". Both are served by the same backend; the name is for the guest's and
    // operator's information, as libxl writes it.
    std::string backend_type;
    bool discard = true;  // discard / no-discard: advertise feature-discard
    Position pos;         // where the spec was written

    std::string_view mode() const { return readonly ? "r" : "w"; }             // backend `mode`
    std::string_view device_type() const { return cdrom ? "cdrom" : "disk"; }  // `device-type`
};

// Parses one disk= entry. Throws ConfigError "<file>:<line>:<col>: disk: <reason>" at the
// spec's position for anything xl refuses (missing vdev, unknown key, bad access, ...) and
// for what Xenolith cannot serve: formats other than raw, backendtype=tap/qdisk/standalone,
// script= (and the iscsi:/nbd:/enbd:/drbd: prefixes, which mean a script), a backend
// domain other than Domain-0, specification=virtio, COLO, an empty cdrom drive, and an
// empty target.
DiskConfig parse_disk_spec(const DeviceSpec& spec);

// The spec that parses back into `disk` (its position aside), in key=value form with the
// target last, as xl writes it: what a saved domain carries of its disks.
std::string disk_spec_text(const DiskConfig& disk);

// A virtual device name in Xen's encoding (docs/misc/vbd-interface.txt):
//   xvdX[N], dD[pN]  -> 202<<8 | disk<<4 | N     for disk <= 15 and N <= 15
//                       1<<28 | disk<<8 | N      for larger disks (< 2^20) or N (<= 255)
//   sdX[N]           -> 8<<8 | disk<<4 | N       disks 0..15, N 0..15
//   hdX[N]           -> 3<<8 | disk<<6 | N       disks 0..1, and 22<<8 | (disk-2)<<6 | N
//                       for disks 2..3; N 0..63
//   a number (decimal, 0x hex, 0 octal) up to 2^31-1, taken as the encoding itself.
// X is the disk number in letters (a = 0, z = 25, aa = 26, ...); N is a partition number
// without leading zeros, 0 (the whole disk) when absent. "d0" (no p) is d0p0, as the
// document's table has it. nullopt for anything else.
std::optional<std::uint32_t> vdev_to_devid(std::string_view vdev);

// Throws ConfigError at the later spec if two disks have the same device number, however
// spelled ("xvda", "d0p0" and "51712" are one device).
void check_unique_devids(const std::vector<DiskConfig>& disks);

}  // namespace xenolith::xlcfg
