// From a validated xl.cfg to what the hypervisor needs to create the domain, and the
// checks every creator (`xn run`, the daemon) makes before it builds anything.
#pragma once

#include <string>

#include "hv/domain.hpp"
#include "toolstack/xlcfg/domain_config.hpp"

namespace xenolith::launch {

// Memory, vCPUs (maxvcpus of them: vcpus= only says how many are online at start), event
// channel and grant limits, name and uuid.
hv::DomainParams domain_params(const xlcfg::DomainConfig& cfg);

// Throws Error when this host or this build cannot run a domain of cfg's type: PVH needs
// VT-x or AMD-V, HVM is not supported. `config_name` starts the message.
void require_supported_type(const xlcfg::DomainConfig& cfg, const std::string& config_name);

}  // namespace xenolith::launch
