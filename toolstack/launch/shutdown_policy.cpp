#include "toolstack/launch/shutdown_policy.hpp"

#include "abi/xen.hpp"

namespace xenolith::launch {

using xlcfg::ShutdownAction;

unsigned stop_reason(const hv::Domain& domain) {
    if (domain.state() == hv::DomainState::Crashed) return SHUTDOWN_crash;
    return domain.shutdown_reason().value_or(SHUTDOWN_poweroff);
}

ShutdownAction shutdown_action(const xlcfg::DomainConfig& cfg, unsigned reason) {
    switch (reason) {
        case SHUTDOWN_reboot:
            return cfg.on_reboot;
        case SHUTDOWN_crash:
        case SHUTDOWN_watchdog:
            return cfg.on_crash;
        case SHUTDOWN_soft_reset:
            return ShutdownAction::SoftReset;
        case SHUTDOWN_suspend:
            return ShutdownAction::Preserve;
        default:
            return cfg.on_poweroff;
    }
}

bool restarts(ShutdownAction action) {
    return action == ShutdownAction::Restart || action == ShutdownAction::RenameRestart ||
           action == ShutdownAction::CoredumpRestart || action == ShutdownAction::SoftReset;
}

bool dumps_core(ShutdownAction action) {
    return action == ShutdownAction::CoredumpDestroy || action == ShutdownAction::CoredumpRestart;
}

}  // namespace xenolith::launch
