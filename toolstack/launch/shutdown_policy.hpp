// What happens when a domain stops: xl's on_poweroff / on_reboot / on_crash, one policy for
// xenolithd and `xn run` alike. The mechanisms (core dumps, renaming, rebuilding) are the
// caller's; which of them applies is decided here.
#pragma once

#include "hv/domain.hpp"
#include "toolstack/xlcfg/domain_config.hpp"

namespace xenolith::launch {

// The SHUTDOWN_* reason a stopped domain reports: SHUTDOWN_crash when it crashed (a fault
// or the guest's own SHUTDOWN_crash), else the reason it gave (poweroff if none).
unsigned stop_reason(const hv::Domain& domain);

// The action `cfg` gives for `reason`, as libxl decides it: reboot takes on_reboot; crash and
// watchdog take on_crash; soft_reset restarts in place; suspend preserves the domain (for a
// save); anything else takes on_poweroff.
xlcfg::ShutdownAction shutdown_action(const xlcfg::DomainConfig& cfg, unsigned reason);

// Whether `action` starts the domain again (restart, rename-restart, coredump-restart,
// soft-reset), and whether it writes a core first.
bool restarts(xlcfg::ShutdownAction action);
bool dumps_core(xlcfg::ShutdownAction action);

}  // namespace xenolith::launch
