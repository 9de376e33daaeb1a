// Xen's debug keys (`xl debug-keys`), the two that say why a guest does not move: 'q'
// dumps each vCPU's state (runstate, exits, event delivery flags, timer), 'e' each event
// channel (state, peer, pending and mask bits). Lines for the hypervisor's message buffer
// (`xn dmesg`). Everything here is read without stopping the guest: a snapshot that a
// running guest may change under it.
#pragma once

#include <string>
#include <vector>

namespace xenolith::hv {

class Domain;

std::vector<std::string> dump_vcpus(Domain& domain);
std::vector<std::string> dump_event_channels(Domain& domain);

}  // namespace xenolith::hv
