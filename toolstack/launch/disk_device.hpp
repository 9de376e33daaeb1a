// One disk of a domain, from its xl.cfg spec to a served vbd: libxl's nodes for it and a
// blkback driver on its image. Used at create time (disk=) and by block-attach.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hv/domain.hpp"
#include "toolstack/launch/device_set.hpp"
#include "toolstack/xlcfg/disk_spec.hpp"

namespace xenolith::launch {

// The toolstack's nodes for `disk` of domain `domid`, served from `path` (the target,
// resolved against the creator's directory).
DeviceNodes vbd_nodes(domid_t domid, const xlcfg::DiskConfig& disk, const std::string& path);

// Opens the image (read-only for access=ro) and adds the device (DeviceSet::add, with
// `restored` for a restored domain's disk, whose frontend came back connected). Throws Error naming
// the spec's position and the image when it cannot be opened; nothing is left behind.
void attach_disk(DeviceSet& devices, std::shared_ptr<hv::Domain> domain,
                 const xlcfg::DiskConfig& disk, const std::string& path, bool restored = false);

// Every disk of a config, in order (the first failure throws; the caller's DeviceSet
// then removes those already added). Relative targets start in `cwd`.
void attach_disks(DeviceSet& devices, const std::shared_ptr<hv::Domain>& domain,
                  const std::vector<xlcfg::DiskConfig>& disks, const std::string& cwd,
                  bool restored = false);

// `target` as the daemon opens it: relative paths start in `cwd`.
std::string resolve_target(const std::string& target, const std::string& cwd);

}  // namespace xenolith::launch
