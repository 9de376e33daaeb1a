// The host CPUs a CPU list (xl's cpus=, vcpu-pin) may name: those this host has.
#pragma once

#include <string>
#include <vector>

#include "toolstack/xlcfg/domain_config.hpp"

namespace xenolith::daemon {

// CPUs configured on this host (0 .. n-1).
unsigned host_cpu_count();

// The CPUs of `set` this host has, ascending. Throws Error "<source>: <key>: ..." when
// none is left ("all" is every host CPU).
std::vector<unsigned> host_cpus_in(const xlcfg::CpuSet& set, unsigned host_cpus, const std::string& source,
                                   const std::string& key);

}  // namespace xenolith::daemon
