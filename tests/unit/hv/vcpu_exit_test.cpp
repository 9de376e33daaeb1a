// hv::Vcpu's handling of each neutral exit, driven with synthetic exits from a scripted
// platform (tests/support/scripted_platform.hpp): no guest code runs, so what the hypervisor
// does with an exit, and what it writes back, is all there is to see.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "abi/xen.hpp"
#include "abi/xenolith.h"
#include "hv/domain.hpp"
#include "hv/hypervisor.hpp"
#include "tests/support/scripted_platform.hpp"
#include "tests/support/test_domain.hpp"

namespace xenolith::hv {
namespace {

using namespace std::chrono_literals;
using platform::Exit;
using platform::Registers;

class VcpuExits : public ::testing::Test {
  protected:
    VcpuExits() : hv_(std::make_unique<xenolith::testing::ScriptedPlatform>(script_)) {
        auto t = xenolith::testing::make_test_domain(hv_, "exits", 16 << 20, 1);
        domain_ = t.domain;
        plan_ = t.plan;
        domain_->set_console([this](std::string_view s) { console_ += s; });
        domain_->set_boot_context(plan_.boot);
    }
    ~VcpuExits() override { hv_.destroy_domain(domain_->id()); }

    void step(Exit exit, Registers regs = {}) {
        if (!regs.rsp) regs.rsp = plan_.layout.stack_top - 256;
        script_->steps.push_back({std::move(exit), regs});
    }
    static Exit exit(Exit::Kind kind, uint64_t value = 0) { return Exit{kind, value}; }
    // Runs the script to its end, or to the domain's.
    void run_script() {
        domain_->start();
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!script_->wait_done(1ms) && !domain_->stopping())
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the script did not run";
    }
    uint64_t scratch(uint64_t offset = 0) const { return plan_.layout.first_free + offset; }

    std::shared_ptr<xenolith::testing::Script> script_ =
        std::make_shared<xenolith::testing::Script>();
    Hypervisor hv_;
    std::shared_ptr<Domain> domain_;
    boot::PvBootPlan plan_;
    std::string console_;
};

TEST_F(VcpuExits, HypercallTakesItsArgumentsFromTheRegistersAndAnswersInRax) {
    const char text[] = "from a synthetic exit\n";
    ASSERT_TRUE(domain_->memory().write(scratch(), text));
    Registers r;
    r.rdi = CONSOLEIO_write;
    r.rsi = sizeof text - 1;
    r.rdx = scratch();
    r.rax = 0x5555;
    step(exit(Exit::Kind::Hypercall, __HYPERVISOR_console_io), r);
    step(exit(Exit::Kind::Hypercall, 63));  // no such hypercall
    run_script();
    ASSERT_EQ(script_->written.size(), 2u);
    EXPECT_EQ(script_->written[0].rax, 0u);
    EXPECT_EQ(static_cast<long>(script_->written[1].rax), -XEN_ENOSYS);
    EXPECT_EQ(console_, text);
    EXPECT_EQ(domain_->unknown_hypercalls(63), 1u);
    EXPECT_EQ(domain_->vcpu(0).counters().hypercalls.load(), 2u);
}

TEST_F(VcpuExits, FaultCrashesTheDomainWithTheReasonAndTheFaultAddressAsCr2) {
    Exit fault = exit(Exit::Kind::Fault);
    fault.what = "guest page fault at 0xdead000";
    fault.fault_address = 0xdead000;
    Registers r;
    r.rip = 0x100010;
    step(fault, r);
    run_script();
    EXPECT_EQ(domain_->wait_for_stop(), DomainState::Crashed);
    const std::string report = domain_->crash_report();
    EXPECT_NE(report.find("crashed on vCPU 0: guest page fault at 0xdead000"), std::string::npos)
        << report;
    EXPECT_NE(report.find("CR2: 000000000dead000"), std::string::npos) << report;
    EXPECT_NE(report.find("RIP: 0000000000100010"), std::string::npos) << report;
}

TEST_F(VcpuExits, PowerOffAndRebootShutTheDomainDown) {
    step(exit(Exit::Kind::Reboot));
    run_script();
    EXPECT_EQ(domain_->wait_for_stop(), DomainState::Shutdown);
    EXPECT_EQ(domain_->shutdown_reason(), std::optional<unsigned>(SHUTDOWN_reboot));
}

TEST_F(VcpuExits, NotifyOfAPortNobodyHoldsIsIgnored) {
    step(exit(Exit::Kind::Notify, 77));
    step(exit(Exit::Kind::Interrupted));
    step(exit(Exit::Kind::PowerOff));
    run_script();
    EXPECT_EQ(domain_->wait_for_stop(), DomainState::Shutdown);
    EXPECT_EQ(domain_->shutdown_reason(), std::optional<unsigned>(SHUTDOWN_poweroff));
    EXPECT_TRUE(script_->written.empty()) << "a notify returns nothing to the guest";
}

TEST_F(VcpuExits, HypercallPageRequestsAreAnsweredAndTheStubsWritten) {
    const uint64_t page = scratch(0x3000) & ~uint64_t{0xfff};
    step(exit(Exit::Kind::HypercallPage, page));
    step(exit(Exit::Kind::HypercallPage, domain_->memory().size()));  // past RAM
    step(exit(Exit::Kind::HypercallPage, page | 1));                  // a second page: none
    run_script();
    EXPECT_EQ(script_->hypercall_page_answers, (std::vector<bool>{true, false, false}));
    const uint8_t stub1[] = {0xb8, 1, 0, 0, 0, 0xe7, XENOLITH_HYPERCALL_PORT, 0xc3};
    auto bytes = domain_->memory().span(page + XENOLITH_HYPERCALL_STUB_SIZE, sizeof stub1);
    EXPECT_EQ(std::memcmp(bytes.data(), stub1, sizeof stub1), 0);
}

// With a callback registered and an event pending, the next entry goes to the callback on
// a frame written below the red zone; the frame holds where the guest was (RIP as the
// platform reports it: past the trapping instruction).
TEST_F(VcpuExits, PendingEventIsDeliveredAsAnUpcallFrameAfterTheExit) {
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_event;
    cb.address = 0x100800;
    ASSERT_TRUE(domain_->memory().write(scratch(), cb));
    vcpu_info_t* vi = domain_->vcpu(0).vcpu_info();
    ASSERT_NE(vi, nullptr);
    vi->evtchn_upcall_mask = 0;
    vi->evtchn_upcall_pending = 1;
    Registers r;
    r.rdi = CALLBACKOP_register;
    r.rsi = scratch();
    r.rip = 0x100042;
    r.rsp = plan_.layout.stack_top - 512;
    r.rflags = 0x246;
    step(exit(Exit::Kind::Hypercall, __HYPERVISOR_callback_op), r);
    run_script();
    ASSERT_EQ(script_->written.size(), 1u);
    const Registers& w = script_->written[0];
    EXPECT_EQ(w.rax, 0u);
    const uint64_t frame = r.rsp - XENOLITH_UPCALL_FRAME_OFFSET;
    EXPECT_EQ(w.rip, cb.address);
    EXPECT_EQ(w.rsp, frame);
    EXPECT_EQ(domain_->memory().read<uint64_t>(frame), std::optional<uint64_t>(r.rflags));
    EXPECT_EQ(domain_->memory().read<uint64_t>(frame + 8), std::optional<uint64_t>(r.rip));
    EXPECT_EQ(domain_->memory().read<uint64_t>(frame + 16), std::optional<uint64_t>(r.rsp));
    EXPECT_EQ(vi->evtchn_upcall_mask, 1) << "delivery masks further upcalls";
}

}  // namespace
}  // namespace xenolith::hv
