// One network interface of a domain, from its vif spec to a served vif: libxl's nodes for
// it and a netback driver on its host side, user-mode networking (libslirp: NAT, DHCP,
// port forwards) without bridge=, a TAP on that bridge with it (root only).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hv/domain.hpp"
#include "toolstack/launch/device_set.hpp"
#include "toolstack/xlcfg/vif_spec.hpp"

namespace xenolith::launch {

// The MAC a vif without mac= gets: Xen's OUI 00:16:3e, then three bytes derived from the
// domain's uuid and the devid, so that a restart keeps it (xl picks random ones).
xlcfg::MacAddress default_mac(const hv::Domain& domain, uint32_t devid);

// The toolstack's nodes for `vif` (its devid assigned) of `domain`, with `mac`.
DeviceNodes vif_nodes(const hv::Domain& domain, const xlcfg::VifConfig& vif,
                      const xlcfg::MacAddress& mac);

// Starts the host side and adds the device. Throws Error naming the spec's position (a
// forward's port taken, no right to make a TAP); nothing is left behind.
void attach_vif(DeviceSet& devices, std::shared_ptr<hv::Domain> domain, const xlcfg::VifConfig& vif,
                bool restored = false);
void attach_vifs(DeviceSet& devices, const std::shared_ptr<hv::Domain>& domain,
                 const std::vector<xlcfg::VifConfig>& vifs, bool restored = false);

}  // namespace xenolith::launch
