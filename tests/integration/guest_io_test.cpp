// Pumice's I/O clients against the real hypervisor on /dev/kvm: grant tables between two
// guests (the grantcopy app), and the xenstore client.
#include <gtest/gtest.h>

#include <thread>

#include "boot/elf_image.hpp"
#include "boot/pv_builder.hpp"
#include "hv/hypervisor.hpp"
#include "toolstack/launch/pv_guest.hpp"
#include "toolstack/launch/store_service.hpp"
#include "tests/integration/harness.hpp"

#include <xen/grant_table.h>

namespace xenolith::integration {
namespace {

using GuestIo = PeerGuestsTest;

TEST_F(GuestIo, GrantCopyMovesAPageBetweenTwoGuests) {
    auto granter = create("granter");
    auto copier = create("copier");
    ConsoleCapture granter_out, copier_out;
    build(*granter, "grantcopy", "role=granter wait_ms=10000 seed=7 peer=" + std::to_string(copier->id()),
          granter_out);
    granter->start();
    ASSERT_TRUE(granter_out.wait_for("grantcopy: ref=", 5s)) << granter_out.text();
    auto ref = number_after(granter_out.lines(), "grantcopy: ref=");
    ASSERT_TRUE(ref);
    EXPECT_GE(*ref, uint64_t{GNTTAB_NR_RESERVED_ENTRIES});  // reserved refs are never handed out
    auto granted = after(granter_out.lines(), "grantcopy: ref=" + std::to_string(*ref) + " checksum=");
    ASSERT_TRUE(granted) << granter_out.text();

    build(*copier, "grantcopy",
          "role=copier peer=" + std::to_string(granter->id()) + " ref=" + std::to_string(*ref), copier_out);
    copier->start();
    EXPECT_EQ(done(*copier), hv::DomainState::Shutdown) << copier_out.text() << copier->crash_report();
    EXPECT_EQ(copier->exit_status(), std::optional<uint32_t>(0)) << copier_out.text();
    auto lines = copier_out.lines();
    EXPECT_EQ(after(lines, "grantcopy: copied checksum="), granted) << copier_out.text();
    auto status = [&](const std::string& name) { return after(lines, "grantcopy: misuse " + name + " status="); };
    EXPECT_EQ(status("bad_ref"), std::to_string(GNTST_bad_gntref)) << copier_out.text();
    EXPECT_EQ(status("bad_len"), std::to_string(GNTST_bad_copy_arg)) << copier_out.text();
    EXPECT_EQ(status("bad_domain"), std::to_string(GNTST_bad_domain)) << copier_out.text();
    EXPECT_EQ(status("readonly_dest"), std::to_string(GNTST_general_error)) << copier_out.text();

    // The copies are over: the granter can revoke its grant (no GTF_reading left behind).
    guests_.front().console->input("done\n");
    EXPECT_EQ(done(*granter), hv::DomainState::Shutdown) << granter_out.text() << granter->crash_report();
    EXPECT_EQ(granter->exit_status(), std::optional<uint32_t>(0)) << granter_out.text();
    EXPECT_NE(granter_out.text().find("grantcopy: end_access rc=0\n"), std::string::npos) << granter_out.text();
}

TEST_F(GuestIo, GrantCopyFromADomainThatGrantedSomeoneElseIsRefused) {
    auto granter = create("granter");
    auto copier = create("copier");
    ConsoleCapture granter_out, copier_out;
    // Granted to a domid that is not the copier's.
    build(*granter, "grantcopy", "role=granter wait_ms=10000 peer=" + std::to_string(copier->id() + 100),
          granter_out);
    granter->start();
    ASSERT_TRUE(granter_out.wait_for("grantcopy: ref=", 5s)) << granter_out.text();
    auto ref = number_after(granter_out.lines(), "grantcopy: ref=");
    ASSERT_TRUE(ref);
    build(*copier, "grantcopy",
          "role=copier peer=" + std::to_string(granter->id()) + " ref=" + std::to_string(*ref), copier_out);
    copier->start();
    EXPECT_EQ(done(*copier), hv::DomainState::Shutdown) << copier_out.text();
    EXPECT_EQ(copier->exit_status(), std::optional<uint32_t>(1)) << copier_out.text();
    EXPECT_NE(copier_out.text().find("grantcopy: copy failed status=" + std::to_string(GNTST_general_error)),
              std::string::npos)
        << copier_out.text();
    guests_.front().console->input("done\n");
    EXPECT_EQ(done(*granter), hv::DomainState::Shutdown) << granter_out.text();
    EXPECT_NE(granter_out.text().find("grantcopy: end_access rc=0\n"), std::string::npos) << granter_out.text();
}

}  // namespace
}  // namespace xenolith::integration

namespace xenolith::integration {
namespace {

class GuestStore : public IntegrationTest {
protected:
    hv::Hypervisor hv_;
    launch::StoreService store_{hv_};
};

TEST_F(GuestStore, XsprobeReadsItsNodesAndWritesData) {
    ApiGuest g(hv_, "xsprobe", "", 1, 32, "probed", &store_);
    const std::string home = "/local/domain/" + std::to_string(g.domain().id());
    g.start();
    ASSERT_EQ(g.wait_for_stop(10s), std::optional(hv::DomainState::Shutdown)) << g.console().text();
    EXPECT_EQ(g.domain().exit_status(), std::optional<uint32_t>(0)) << g.console().text();
    auto text = g.console().text();
    EXPECT_NE(text.find("xsprobe: name=probed domid=" + std::to_string(g.domain().id()) + "\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("xsprobe: data/probe=ok\n"), std::string::npos) << text;
    EXPECT_NE(text.find("xsprobe: missing node rc=-2\n"), std::string::npos) << text;  // -XEN_ENOENT
    auto entries = number_after(g.console().lines(), "xsprobe: home has ");
    ASSERT_TRUE(entries) << text;
    EXPECT_GE(*entries, 5u) << text;  // name, domid, control, data, ... (the toolstack's)
    EXPECT_EQ(store_.read(home + "/data/probe"), "ok");
}

TEST_F(GuestStore, ControlShutdownPoweroffPowersTheDomainOffCleanly) {
    ApiGuest g(hv_, "xsprobe", "hold_ms=20000", 1, 32, "", &store_);
    const std::string home = "/local/domain/" + std::to_string(g.domain().id());
    g.start();
    ASSERT_TRUE(g.console().wait_for("xsprobe: holding", 5s)) << g.console().text();
    store_.write(home + "/control/shutdown", "poweroff");  // as `xl shutdown`
    auto started = Clock::now();
    ASSERT_EQ(g.wait_for_stop(10s), std::optional(hv::DomainState::Shutdown)) << g.console().text();
    EXPECT_LT(Clock::now() - started, 5s);  // not the 20 s hold
    EXPECT_EQ(g.domain().shutdown_reason(), std::optional<unsigned>(SHUTDOWN_poweroff));
    EXPECT_EQ(g.domain().exit_status(), std::optional<uint32_t>(0)) << g.console().text();
    EXPECT_NE(g.console().text().find("pumice: control/shutdown: poweroff\n"), std::string::npos)
        << g.console().text();
    EXPECT_EQ(store_.read(home + "/control/shutdown"), "");  // acknowledged, as Linux does
}

TEST_F(GuestStore, ControlShutdownRebootAsksForAReboot) {
    ApiGuest g(hv_, "xsprobe", "hold_ms=20000", 1, 32, "", &store_);
    const std::string home = "/local/domain/" + std::to_string(g.domain().id());
    g.start();
    ASSERT_TRUE(g.console().wait_for("xsprobe: holding", 5s)) << g.console().text();
    store_.write(home + "/control/shutdown", "reboot");
    ASSERT_EQ(g.wait_for_stop(10s), std::optional(hv::DomainState::Shutdown)) << g.console().text();
    EXPECT_EQ(g.domain().shutdown_reason(), std::optional<unsigned>(SHUTDOWN_reboot));
    EXPECT_NE(g.console().text().find("pumice: control/shutdown: reboot\n"), std::string::npos)
        << g.console().text();
}

}  // namespace
}  // namespace xenolith::integration
