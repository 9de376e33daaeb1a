// Page-write events (vmi::Introspector::watch_writes_*) against the `debugee` guest's
// selfpatch mode, which after a few rounds stores one byte into its own code
// (debugee_target, from debugee_patch) and prints what the function returns before and
// after: the writer stops with its RIP and the address, and the client lets the write
// happen, crashes the domain, or detaches.
#include <gtest/gtest.h>

#include <thread>

#include "base/error.hpp"
#include "boot/elf_image.hpp"
#include "hv/hypervisor.hpp"
#include "tests/integration/harness.hpp"
#include "vmi/introspector.hpp"

namespace xenolith::integration {
namespace {

using hv::DomainState;
using vmi::Action;
using vmi::Introspector;
using vmi::Reason;

constexpr const char* kPatched = "debugee_target returned 1, now 2";

// The guest printed that its patch worked.
bool patched(ApiGuest& g, std::chrono::milliseconds timeout) {
    return g.console().wait_for("debugee: patched", timeout) &&
           g.console().text().find(kPatched) != std::string::npos;
}

class PageWrites : public HypervisorTest {
  protected:
    void SetUp() override {
        HypervisorTest::SetUp();
        if (HasFatalFailure()) return;
        image_ = std::make_unique<boot::ElfImage>(boot::ElfImage::load(guest_path("debugee")));
    }
    boot::Symbol symbol(const char* name) const {
        auto s = image_->lookup(name);
        EXPECT_TRUE(s) << name;
        return s.value_or(boot::Symbol{});
    }
    // Attached and watching debugee_target's page, the guest running again.
    void watch_target(Introspector& vmi) {
        vmi.stop_all(2s);
        EXPECT_EQ(vmi.watch_writes_virtual(0, symbol("debugee_target").address, 1, true), 1u);
        vmi.resume({}, Action::Continue);
    }
    // The guest started paused and watched before its first instruction, so that the watch
    // is in place before the patch however slow the host (a guest left to run first could
    // patch before the watch was set), then unpaused.
    void start_watched(ApiGuest& g, Introspector& vmi) {
        g.start(/*paused=*/true);
        watch_target(vmi);
        g.domain().unpause();
        ASSERT_TRUE(g.console().wait_for("debugee: ready", 5s)) << g.console().text();
    }
    // The write event of debugee_patch, checked.
    vmi::StopEvent expect_patch_event(Introspector& vmi, ApiGuest& g) {
        std::optional<vmi::StopEvent> ev = vmi.wait(5s);
        EXPECT_TRUE(ev) << g.console().text();
        if (!ev) return {};
        const boot::Symbol patch = symbol("debugee_patch");
        EXPECT_EQ(ev->reason, Reason::Write);
        EXPECT_EQ(ev->vcpu, 0u);
        EXPECT_GE(ev->rip, patch.address);
        EXPECT_LT(ev->rip, patch.address + patch.size);
        EXPECT_EQ(vmi.registers(0).rip, ev->rip);
        // The immediate of `mov $1, %eax`, still 1: the write has not happened.
        const uint64_t target = symbol("debugee_target").address;
        std::vector<uint8_t> imm = vmi.read_virtual(0, target + 1, 1);
        EXPECT_EQ(imm, std::vector<uint8_t>{1});
        EXPECT_EQ(g.domain().memory().span(ev->address, 1)[0], 1);
        EXPECT_EQ(g.console().text().find(kPatched), std::string::npos);
        return *ev;
    }

    std::unique_ptr<boot::ElfImage> image_;
};

TEST_F(PageWrites, TheWriterStopsWithItsRipAndContinueMakesTheWrite) {
    ApiGuest g(hv(), "debugee", "period_ms=1 selfpatch=5");
    Introspector vmi(g.ptr());
    start_watched(g, vmi);
    if (HasFatalFailure()) return;
    const vmi::StopEvent ev = expect_patch_event(vmi, g);
    ASSERT_EQ(ev.reason, Reason::Write);
    vmi.resume({}, Action::Continue);
    EXPECT_TRUE(patched(g, 5s)) << g.console().text();
    EXPECT_EQ(g.domain().memory().span(ev.address, 1)[0], 2);
    EXPECT_FALSE(g.domain().stopping()) << g.domain().crash_report();
    // One write, one event; the guest runs on under the watch.
    EXPECT_FALSE(vmi.wait(300ms));
    EXPECT_EQ(vmi.watched_pages(), 1u);
}

TEST_F(PageWrites, AStepAtTheWriteMakesItAndStopsAfterTheInstruction) {
    ApiGuest g(hv(), "debugee", "period_ms=1 selfpatch=3");
    Introspector vmi(g.ptr());
    start_watched(g, vmi);
    if (HasFatalFailure()) return;
    const vmi::StopEvent ev = expect_patch_event(vmi, g);
    vmi.resume({{0, Action::Step}}, Action::Stay);
    std::optional<vmi::StopEvent> step = vmi.wait(5s);
    ASSERT_TRUE(step);
    EXPECT_EQ(step->reason, Reason::SingleStep);
    EXPECT_GT(step->rip, ev.rip);
    EXPECT_LT(step->rip, ev.rip + 16);
    EXPECT_EQ(g.domain().memory().span(ev.address, 1)[0], 2);
    vmi.resume({}, Action::Continue);
    EXPECT_TRUE(patched(g, 5s)) << g.console().text();
}

TEST_F(PageWrites, CrashDropsTheWriteAndCrashesTheDomain) {
    ApiGuest g(hv(), "debugee", "period_ms=1 selfpatch=3");
    Introspector vmi(g.ptr());
    start_watched(g, vmi);
    if (HasFatalFailure()) return;
    const vmi::StopEvent ev = expect_patch_event(vmi, g);
    vmi.resume({{0, Action::Crash}}, Action::Stay);
    ASSERT_EQ(g.wait_for_stop(5s), std::optional(DomainState::Crashed));
    const std::string report = g.domain().crash_report();
    EXPECT_NE(report.find("the debugger crashed the domain"), std::string::npos) << report;
    EXPECT_NE(report.find("debugee_patch"), std::string::npos) << report;
    EXPECT_EQ(g.domain().memory().span(ev.address, 1)[0], 1);
    EXPECT_EQ(g.console().text().find(kPatched), std::string::npos);
}

TEST_F(PageWrites, DetachRemovesTheWatchAndTheGuestWritesFreely) {
    ApiGuest g(hv(), "debugee", "period_ms=2 selfpatch=40");
    g.start();
    ASSERT_TRUE(g.console().wait_for("debugee: ready", 5s));
    {
        Introspector vmi(g.ptr());
        watch_target(vmi);
    }  // detached while the guest runs, before it patches
    EXPECT_TRUE(patched(g, 5s)) << g.console().text();
    EXPECT_FALSE(g.domain().stopping()) << g.domain().crash_report();
}

TEST_F(PageWrites, DetachAtTheWriteLetsItHappen) {
    ApiGuest g(hv(), "debugee", "period_ms=1 selfpatch=3");
    {
        Introspector vmi(g.ptr());
        start_watched(g, vmi);
        if (HasFatalFailure()) return;
        expect_patch_event(vmi, g);
    }
    EXPECT_TRUE(patched(g, 5s)) << g.console().text();
    EXPECT_FALSE(g.domain().stopping()) << g.domain().crash_report();
    // A new debugger starts with no watch.
    Introspector again(g.ptr());
    EXPECT_EQ(again.watched_pages(), 0u);
}

TEST_F(PageWrites, BadRangesGetErrorsAndWatchNothing) {
    ApiGuest g(hv(), "debugee", "period_ms=1");
    g.start();
    ASSERT_TRUE(g.console().wait_for("debugee: ready", 5s));
    Introspector vmi(g.ptr());
    const uint64_t target = symbol("debugee_target").address;
    const uint64_t ram = g.domain().memory().size();
    // Running vCPUs: no watch may change.
    EXPECT_THROW(vmi.watch_writes_physical(0x100000, 1, true), Error);
    vmi.stop_all(2s);
    EXPECT_THROW(vmi.watch_writes_physical(ram, 1, true), Error);           // past RAM
    EXPECT_THROW(vmi.watch_writes_physical(ram - 1, 2, true), Error);       // across its end
    EXPECT_THROW(vmi.watch_writes_physical(0x100000, 0, true), Error);      // empty
    EXPECT_THROW(vmi.watch_writes_physical(~0ull - 10, 100, true), Error);  // wraps
    EXPECT_THROW(vmi.watch_writes_physical(0, Introspector::kMaxWatchedPages * 4096 + 1, true),
                 Error);
    EXPECT_THROW(vmi.watch_writes_virtual(0, 0xdead0000'0000ull, 1, true), Error);  // unmapped
    EXPECT_THROW(vmi.watch_writes_virtual(3, target, 1, true), Error);              // no such vCPU
    EXPECT_THROW(vmi.watch_writes_virtual(0, target, 1, false), Error);             // none there
    EXPECT_EQ(vmi.watched_pages(), 0u);
    // Page granular: two bytes across a boundary are two pages; removing one range of
    // them leaves the other.
    const uint64_t page = target & ~uint64_t{4095};
    EXPECT_EQ(vmi.watch_writes_virtual(0, page + 4095, 2, true), 2u);
    EXPECT_EQ(vmi.watch_writes_virtual(0, page, 1, false), 1u);
    vmi.resume({}, Action::Continue);
    const size_t lines = g.console().lines_received();
    EXPECT_TRUE(g.console().wait_for_more_than(lines + 3, 5s));
}

}  // namespace
}  // namespace xenolith::integration
