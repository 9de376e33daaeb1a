// The one shutdown policy xenolithd and `xn run` share: which action a stop reason takes.
#include "toolstack/launch/shutdown_policy.hpp"

#include <gtest/gtest.h>

#include "abi/xen.hpp"

namespace xenolith::launch {
namespace {

using xlcfg::ShutdownAction;

xlcfg::DomainConfig config() {
    xlcfg::DomainConfig cfg;
    cfg.on_poweroff = ShutdownAction::Destroy;
    cfg.on_reboot = ShutdownAction::RenameRestart;
    cfg.on_crash = ShutdownAction::CoredumpDestroy;
    return cfg;
}

TEST(ShutdownPolicy, EachReasonTakesItsAction) {
    const xlcfg::DomainConfig cfg = config();
    EXPECT_EQ(shutdown_action(cfg, SHUTDOWN_poweroff), ShutdownAction::Destroy);
    EXPECT_EQ(shutdown_action(cfg, SHUTDOWN_reboot), ShutdownAction::RenameRestart);
    EXPECT_EQ(shutdown_action(cfg, SHUTDOWN_crash), ShutdownAction::CoredumpDestroy);
    // A watchdog expiry is a crash to libxl; a soft reset restarts in place; a suspended
    // domain is kept for its save.
    EXPECT_EQ(shutdown_action(cfg, SHUTDOWN_watchdog), ShutdownAction::CoredumpDestroy);
    EXPECT_EQ(shutdown_action(cfg, SHUTDOWN_soft_reset), ShutdownAction::SoftReset);
    EXPECT_EQ(shutdown_action(cfg, SHUTDOWN_suspend), ShutdownAction::Preserve);
    EXPECT_EQ(shutdown_action(cfg, 77), ShutdownAction::Destroy);
}

TEST(ShutdownPolicy, WhichActionsRestartAndWhichDumpCore) {
    EXPECT_TRUE(restarts(ShutdownAction::Restart));
    EXPECT_TRUE(restarts(ShutdownAction::RenameRestart));
    EXPECT_TRUE(restarts(ShutdownAction::CoredumpRestart));
    EXPECT_TRUE(restarts(ShutdownAction::SoftReset));
    EXPECT_FALSE(restarts(ShutdownAction::Destroy));
    EXPECT_FALSE(restarts(ShutdownAction::Preserve));
    EXPECT_FALSE(restarts(ShutdownAction::CoredumpDestroy));
    EXPECT_TRUE(dumps_core(ShutdownAction::CoredumpDestroy));
    EXPECT_TRUE(dumps_core(ShutdownAction::CoredumpRestart));
    EXPECT_FALSE(dumps_core(ShutdownAction::Restart));
}

}  // namespace
}  // namespace xenolith::launch
