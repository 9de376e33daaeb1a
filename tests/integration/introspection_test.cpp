// The introspection core (vmi/introspector.hpp) against real guests, on each platform
// (`process.` and `kvm.` tests): stopping and resuming every vCPU, registers, memory by
// virtual and physical address, software breakpoints and single steps, detach, and the
// guest's own int3. The `debugee` app calls debugee_tick() each round and prints
// debugee_message. A test that needs what the host's platform cannot do (KVM on PVM has no
// debug exits; the nested host's int3 does not exit) is counted as not run, with the reason.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "abi/version.hpp"
#include "abi/xen.hpp"
#include "abi/xenolith.h"
#include "base/error.hpp"
#include "boot/elf_image.hpp"
#include "hv/hypercall_names.hpp"
#include "hv/hypervisor.hpp"
#include "hv/vcpu.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/not_run.hpp"
#include "vmi/introspector.hpp"

namespace xenolith::integration {
namespace {

using hv::DomainState;
using vmi::Action;
using vmi::Introspector;
using vmi::Reason;

class Introspection : public HypervisorTest {
  protected:
    void SetUp() override {
        HypervisorTest::SetUp();
        if (HasFatalFailure()) return;
        image_ = std::make_unique<boot::ElfImage>(boot::ElfImage::load(guest_path("debugee")));
    }
    uint64_t symbol(const char* name) const {
        auto s = image_->lookup(name);
        EXPECT_TRUE(s) << name;
        return s ? s->address : 0;
    }

    static platform::DebugSupport support(ApiGuest& g) {
        return g.domain().vcpu(0).debug_support();
    }

    std::unique_ptr<boot::ElfImage> image_;
};

TEST_F(Introspection, StopAllHoldsEveryVcpuAndResumeLetsThemRunOn) {
    ApiGuest g(hv(), "debugee", "period_ms=1");
    g.start();
    ASSERT_TRUE(g.console().wait_for("debugee: tick 3 ", 5s)) << g.console().text();
    Introspector vmi(g.ptr());
    vmi.stop_all(2s);
    EXPECT_TRUE(vmi.stopped(0));
    // What the guest wrote to its ring before the stop may still reach the console backend
    // (under the nested host's TCG, tens of milliseconds later): count from after that.
    std::this_thread::sleep_for(100ms);
    const size_t lines = g.console().lines_received();
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(g.console().lines_received(), lines) << "the guest printed while stopped";
    // The registers are the guest's: RIP inside its RAM, RSP too.
    platform::Registers r = vmi.registers(0);
    EXPECT_LT(r.rip, g.domain().memory().size());
    EXPECT_LT(r.rsp, g.domain().memory().size());
    vmi.resume({}, Action::Continue);
    EXPECT_TRUE(g.console().wait_for_more_than(lines + 3, 5s)) << "no output after resume";
    EXPECT_FALSE(g.domain().stopping());
}

TEST_F(Introspection, BreakpointStopsInTheFunctionAndChangesWhatTheGuestPrints) {
    ApiGuest g(hv(), "debugee", "period_ms=1");
    const uint64_t tick = symbol("debugee_tick");
    const uint64_t message = symbol("debugee_message");
    const uint64_t counter = symbol("debugee_counter");
    XENOLITH_NOT_RUN_UNLESS_AVAILABLE(support(g).breakpoints);
    XENOLITH_NOT_RUN_UNLESS_AVAILABLE(support(g).single_step);
    g.start();
    ASSERT_TRUE(g.console().wait_for("debugee: ready", 5s)) << g.console().text();
    Introspector vmi(g.ptr());
    vmi.stop_all(2s);
    vmi.insert_breakpoint(0, tick);
    EXPECT_EQ(vmi.breakpoint_count(), 1u);
    // Reads show the original byte, not the int3.
    std::vector<uint8_t> code = vmi.read_virtual(0, tick, 1);
    ASSERT_EQ(code.size(), 1u);
    EXPECT_NE(code[0], 0xcc);
    EXPECT_EQ(g.domain().memory().span(tick, 1)[0], 0xcc);  // a PV Pumice guest: VA = PA

    vmi.resume({}, Action::Continue);
    std::optional<vmi::StopEvent> ev = vmi.wait(5s);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->reason, Reason::Breakpoint);
    EXPECT_EQ(ev->vcpu, 0u);
    EXPECT_EQ(ev->rip, tick);
    EXPECT_EQ(vmi.registers(0).rip, tick);
    // debugee_tick(round): the argument is the round about to be printed.
    const uint64_t round = vmi.registers(0).rdi;
    EXPECT_GE(round, 1u);
    std::vector<uint8_t> before = vmi.read_virtual(0, counter, 8);
    ASSERT_EQ(before.size(), 8u);

    const char text[] = "changed-from-outside";
    ASSERT_EQ(vmi.write_virtual(0, message, {reinterpret_cast<const uint8_t*>(text), sizeof text}),
              sizeof text);
    // One instruction: RIP moves, nothing else runs.
    vmi.remove_breakpoint(tick);
    EXPECT_EQ(g.domain().memory().span(tick, 1)[0], code[0]);
    vmi.resume({{0, Action::Step}}, Action::Stay);
    ev = vmi.wait(5s);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->reason, Reason::SingleStep);
    EXPECT_GT(ev->rip, tick);
    EXPECT_LT(ev->rip, tick + 16);

    vmi.resume({}, Action::Continue);
    const std::string want = "debugee: tick " + std::to_string(round) + " message=" + text;
    EXPECT_TRUE(g.console().wait_for(want, 5s)) << g.console().text();
}

TEST_F(Introspection, DetachRemovesEveryBreakpointAndTheGuestRunsOn) {
    ApiGuest g(hv(), "debugee", "period_ms=1");
    const uint64_t tick = symbol("debugee_tick");
    XENOLITH_NOT_RUN_UNLESS_AVAILABLE(support(g).breakpoints);
    g.start();
    ASSERT_TRUE(g.console().wait_for("debugee: ready", 5s));
    const uint8_t original = g.domain().memory().span(tick, 1)[0];
    {
        Introspector vmi(g.ptr());
        vmi.stop_all(2s);
        vmi.insert_breakpoint(0, tick);
        vmi.resume({}, Action::Continue);
        ASSERT_TRUE(vmi.wait(5s));
        // Detached while stopped at the breakpoint, with it still planted.
    }
    EXPECT_EQ(g.domain().memory().span(tick, 1)[0], original);
    const size_t lines = g.console().lines_received();
    EXPECT_TRUE(g.console().wait_for_more_than(lines + 3, 5s)) << "the guest did not run on";
    EXPECT_FALSE(g.domain().stopping()) << g.domain().crash_report();
    // A second debugger may attach now.
    Introspector again(g.ptr());
    again.stop_all(2s);
}

TEST_F(Introspection, OneDebuggerPerDomain) {
    ApiGuest g(hv(), "debugee", "period_ms=1");
    g.start();
    Introspector first(g.ptr());
    try {
        Introspector second(g.ptr());
        FAIL() << "a second debugger attached";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("already has a debugger"), std::string::npos)
            << e.what();
    }
}

// A given CR3 walks those page tables instead of the vCPU's own: the vCPU's own CR3 reads
// what the default does, page tables that are not there read nothing, and a write through
// them lands where they map it.
TEST_F(Introspection, MemoryThroughAGivenCr3) {
    ApiGuest g(hv(), "debugee", "period_ms=1");
    g.start();
    ASSERT_TRUE(g.console().wait_for("debugee: tick 2 ", 5s)) << g.console().text();
    Introspector vmi(g.ptr());
    vmi.stop_all(2s);
    const uint64_t cr3 = vmi.control_registers(0).cr3;
    const uint64_t counter = symbol("debugee_counter");
    const std::vector<uint8_t> own = vmi.read_virtual(0, counter, 8);
    ASSERT_EQ(own.size(), 8u);
    EXPECT_EQ(vmi.read_virtual(0, counter, 8, cr3), own);
    // Outside RAM, and a page of zeros (no present entry at any level): nothing translates.
    EXPECT_TRUE(vmi.read_virtual(0, counter, 8, g.domain().memory().size() + 0x1000).empty());
    EXPECT_TRUE(vmi.read_virtual(0, counter, 8, 0).empty());
    const std::vector<uint8_t> seven = {7, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_EQ(vmi.write_virtual(0, counter, seven, cr3), 8u);
    EXPECT_EQ(vmi.read_virtual(0, counter, 8), seven);
}

// Hypercall events: each call stops its vCPU before it is made, with its number, until the
// client lets it go; turned off, the guest runs on; Crash at one ends the domain instead.
TEST_F(Introspection, HypercallStopsHoldEachCallUntilTheClientAnswers) {
    ApiGuest g(hv(), "debugee", "period_ms=1");
    g.start();
    ASSERT_TRUE(g.console().wait_for("debugee: tick 2 ", 5s)) << g.console().text();
    Introspector vmi(g.ptr());
    const uint64_t before = g.domain().vcpu(0).counters().hypercalls.load();
    vmi.set_hypercall_stops(true);
    std::optional<vmi::StopEvent> first = vmi.wait(5s);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->reason, Reason::Hypercall);
    EXPECT_NE(std::string(hv::hypercall_name(first->hypercall)), "");
    EXPECT_EQ(vmi.registers(0).rip, first->rip);
    // Held: the call has been counted as made, but nothing runs on.
    const uint64_t held = g.domain().vcpu(0).counters().hypercalls.load();
    EXPECT_FALSE(vmi.wait(200ms));
    EXPECT_EQ(g.domain().vcpu(0).counters().hypercalls.load(), held);
    for (int i = 0; i < 5; ++i) {
        vmi.resume({}, Action::Continue);
        std::optional<vmi::StopEvent> next = vmi.wait(5s);
        ASSERT_TRUE(next) << i;
        EXPECT_EQ(next->reason, Reason::Hypercall);
    }
    EXPECT_EQ(g.domain().vcpu(0).counters().hypercalls.load(), held + 5);
    EXPECT_GT(held, before);
    vmi.set_hypercall_stops(false);
    vmi.resume({}, Action::Continue);
    const size_t lines = g.console().lines_received();
    EXPECT_TRUE(g.console().wait_for_more_than(lines + 3, 5s)) << g.console().text();
    EXPECT_FALSE(vmi.wait(100ms));
    // Crash at a hypercall: the call is not made, the domain ends crashed.
    vmi.set_hypercall_stops(true);
    ASSERT_TRUE(vmi.wait(5s));
    vmi.resume({}, Action::Crash);
    EXPECT_EQ(g.wait_for_stop(5s), std::optional(DomainState::Crashed));
    EXPECT_NE(g.domain().crash_report().find("the debugger crashed the domain"), std::string::npos)
        << g.domain().crash_report();
}

TEST_F(Introspection, BadRequestsGetErrorsAndChangeNothing) {
    ApiGuest g(hv(), "debugee", "period_ms=1");
    g.start();
    Introspector vmi(g.ptr());
    // Running vCPUs: no registers.
    EXPECT_THROW(vmi.registers(0), Error);
    vmi.stop_all(2s);
    EXPECT_THROW(vmi.registers(7), Error);                              // no such vCPU
    EXPECT_THROW(vmi.insert_breakpoint(0, 0xdead0000'0000ull), Error);  // unmapped
    EXPECT_THROW(vmi.remove_breakpoint(0x1000), Error);                 // none there
    EXPECT_TRUE(vmi.read_virtual(0, 0xdead0000'0000ull, 16).empty());
    EXPECT_TRUE(vmi.read_physical(g.domain().memory().size(), 16).empty());
    EXPECT_EQ(vmi.read_physical(g.domain().memory().size() - 4, 16).size(), 4u);
    EXPECT_EQ(vmi.breakpoint_count(), 0u);
    // What the platform cannot do here is refused with its reason, not half done.
    const platform::DebugSupport can = support(g);
    if (!can.breakpoints.empty()) {
        try {
            vmi.insert_breakpoint(0, symbol("debugee_tick"));
            ADD_FAILURE() << "a breakpoint the platform cannot trap was planted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(can.breakpoints), std::string::npos) << e.what();
        }
        EXPECT_EQ(vmi.breakpoint_count(), 0u);
    }
    if (!can.single_step.empty()) {
        try {
            vmi.resume({{0, Action::Step}}, Action::Stay);
            ADD_FAILURE() << "a step the platform cannot make was accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(can.single_step), std::string::npos) << e.what();
        }
        EXPECT_TRUE(vmi.stopped(0));
    }
    vmi.resume({}, Action::Continue);
}

// Stepping from wherever the guest was stopped: each step is one instruction (its stop is
// where the registers say, and the guest runs on unharmed afterwards: a stepped `pushf` does
// not leave it the trap flag). Then the debugger points RIP at the `out` of the hypercall
// page's xen_version stub: stepped, it is still the hypercall (counted, with its result in
// RAX) before the stop, and the guest goes on from its own registers put back.
TEST_F(Introspection, StepsRunOneInstructionEachAndASteppedHypercallIsStillMade) {
    ApiGuest g(hv(), "debugee", "period_ms=1");
    XENOLITH_NOT_RUN_UNLESS_AVAILABLE(support(g).single_step);
    g.start();
    ASSERT_TRUE(g.console().wait_for("debugee: ready", 5s)) << g.console().text();
    Introspector vmi(g.ptr());
    vmi.stop_all(2s);
    auto step = [&](int i) {
        vmi.resume({{0, Action::Step}}, Action::Stay);
        std::optional<vmi::StopEvent> ev = vmi.wait(5s);
        EXPECT_TRUE(ev) << "step " << i << " never stopped";
        return ev;
    };
    for (int i = 0; i < 500; ++i) {
        std::optional<vmi::StopEvent> ev = step(i);
        ASSERT_TRUE(ev);
        ASSERT_EQ(ev->reason, Reason::SingleStep);
        ASSERT_EQ(ev->vcpu, 0u);
        ASSERT_EQ(ev->rip, vmi.registers(0).rip);
        ASSERT_LT(ev->rip, g.domain().memory().size()) << "step " << i;
    }

    const platform::Registers own = vmi.registers(0);
    platform::Registers call = own;
    constexpr uint64_t kStubSize = 32, kMovEaxSize = 5;  // `mov $nr, %eax; out ...; ret`
    call.rip = g.hypercall_page() + __HYPERVISOR_xen_version * kStubSize + kMovEaxSize;
    call.rax = __HYPERVISOR_xen_version;
    call.rdi = XENVER_version;
    call.rsi = 0;
    const std::vector<uint8_t> out = vmi.read_virtual(0, call.rip, 2);
    ASSERT_EQ(out, (std::vector<uint8_t>{0xe7, XENOLITH_HYPERCALL_PORT}));
    vmi.set_registers(0, call);
    const hv::VcpuCounters& counters = g.domain().vcpu(0).counters();
    const uint64_t calls = counters.hypercalls.load();
    std::optional<vmi::StopEvent> ev = step(-1);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->reason, Reason::SingleStep);
    EXPECT_EQ(ev->rip, call.rip + 2);
    EXPECT_EQ(counters.hypercalls.load(), calls + 1);
    EXPECT_EQ(vmi.registers(0).rax, (uint64_t{abi::kXenMajor} << 16) | abi::kXenMinor);

    vmi.set_registers(0, own);
    vmi.resume({}, Action::Continue);
    const size_t lines = g.console().lines_received();
    EXPECT_TRUE(g.console().wait_for_more_than(lines + 3, 5s)) << "the guest did not run on";
    EXPECT_FALSE(g.domain().stopping()) << g.domain().crash_report();
}

TEST_F(Introspection, TheGuestsOwnInt3CrashesItWithOrWithoutADebugger) {
    for (bool attached : {false, true}) {
        ApiGuest g(hv(), "crash", "mode=int3");
        std::unique_ptr<Introspector> vmi;
        if (attached) vmi = std::make_unique<Introspector>(g.ptr());
        g.start();
        ASSERT_EQ(g.wait_for_stop(5s), std::optional(DomainState::Crashed)) << g.console().text();
        // Named as an int3 where the platform sees one; elsewhere (KVM on PVM) the guest's
        // int3 is a triple fault like any exception of a PV guest, and is reported as that.
        if (support(g).breakpoints.empty()) {
            EXPECT_NE(g.domain().crash_report().find("breakpoint (int3)"), std::string::npos)
                << g.domain().crash_report();
        }
        EXPECT_NE(g.domain().crash_report().find("crash_int3"), std::string::npos)
            << g.domain().crash_report();
    }
}

TEST_F(Introspection, DestroyWhileStoppedEndsTheDomain) {
    ApiGuest g(hv(), "debugee", "period_ms=1");
    g.start();
    Introspector vmi(g.ptr());
    vmi.stop_all(2s);
    hv().destroy_domain(g.domain().id());
    EXPECT_TRUE(g.domain().stopping());
}

}  // namespace
}  // namespace xenolith::integration
