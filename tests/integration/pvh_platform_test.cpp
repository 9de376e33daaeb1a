// A PVH vCPU end to end, without a kernel: a few instructions of 32-bit code at CPL 0 enter
// at the PVH entry state, ask for the hypercall page through the Xen MSR, make hypercalls
// through its stubs with paging off, and shut the domain down; or power it off through the
// ACPI sleep register. On a PVM host (the build machines) KVM emulates every CPL-0
// instruction, which is slow but exact, so these run everywhere /dev/kvm does. The
// introspector steps one (where the host's KVM can step: the nested host; not PVM).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "abi/version.hpp"
#include "abi/xen.hpp"
#include "boot/pvh_layout.hpp"
#include "hv/domain.hpp"
#include "hv/hypervisor.hpp"
#include "hv/vcpu.hpp"
#include "tests/integration/not_run.hpp"
#include "toolstack/launch/pvh_guest.hpp"
#include "vmi/introspector.hpp"

namespace xenolith::integration {
namespace {

constexpr uint64_t kCode = 0x100000;
constexpr uint64_t kHypercallPage = 0x200000;
constexpr uint64_t kData = 0x300000;
constexpr uint32_t kStack = 0x80000;

// A little 32-bit assembler: just what these tests need.
struct Code {
    std::vector<uint8_t> bytes;
    void u8(uint8_t b) { bytes.push_back(b); }
    void u32(uint32_t v) {
        for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
    void mov_eax(uint32_t v) {
        u8(0xb8);
        u32(v);
    }
    void mov_ecx(uint32_t v) {
        u8(0xb9);
        u32(v);
    }
    void mov_edx(uint32_t v) {
        u8(0xba);
        u32(v);
    }
    void mov_esi(uint32_t v) {
        u8(0xbe);
        u32(v);
    }
    void mov_edi(uint32_t v) {
        u8(0xbf);
        u32(v);
    }
    void mov_esp(uint32_t v) {
        u8(0xbc);
        u32(v);
    }
    void wrmsr() {
        u8(0x0f);
        u8(0x30);
    }
    void mov_mem_eax(uint32_t addr) {
        u8(0xa3);
        u32(addr);
    }                                 // mov %eax, addr
    void call_abs(uint32_t target) {  // mov $target, %ebx; call *%ebx
        u8(0xbb);
        u32(target);
        u8(0xff);
        u8(0xd3);
    }
    void out_al_dx() { u8(0xee); }
    void lgdt(uint32_t addr) {
        u8(0x0f);
        u8(0x01);
        u8(0x15);
        u32(addr);
    }  // lgdt addr
    void lidt(uint32_t addr) {
        u8(0x0f);
        u8(0x01);
        u8(0x1d);
        u32(addr);
    }  // lidt addr
    void mov_mem_imm(uint32_t addr, uint32_t v) {
        u8(0xc7);
        u8(0x05);
        u32(addr);
        u32(v);
    }
    void sti() { u8(0xfb); }
    // wrmsr(0x40000000, kHypercallPage): the hypervisor fills the page with stubs.
    void install_hypercall_page() {
        mov_ecx(0x40000000);
        mov_eax(static_cast<uint32_t>(kHypercallPage));
        mov_edx(0);
        wrmsr();
    }
    // Hypercall `nr` through its stub, the first two arguments in EDI and ESI.
    void hypercall(unsigned nr, uint32_t arg0, uint32_t arg1) {
        mov_edi(arg0);
        mov_esi(arg1);
        call_abs(static_cast<uint32_t>(kHypercallPage + nr * 32));
    }
    // sched_op(SCHEDOP_shutdown, &{reason}) with the reason stored at `scratch`.
    void shutdown(uint32_t reason, uint32_t scratch) {
        mov_eax(reason);
        mov_mem_eax(scratch);
        hypercall(__HYPERVISOR_sched_op, SCHEDOP_shutdown, scratch);
    }
    void inc_mem(uint32_t addr) {  // incl addr
        u8(0xff);
        u8(0x05);
        u32(addr);
    }
    void jmp_back_to(size_t at) {  // jmp rel8
        const long rel = static_cast<long>(at) - static_cast<long>(bytes.size() + 2);
        u8(0xeb);
        u8(static_cast<uint8_t>(static_cast<int8_t>(rel)));
    }
    void hlt_loop() {
        u8(0xf4);
        u8(0xeb);
        u8(0xfd);
    }  // hlt; jmp back to hlt
};

class PvhPlatform : public ::testing::Test {
  protected:
    static hv::Hypervisor& hypervisor() {
        static hv::Hypervisor hv;
        return hv;
    }
    void SetUp() override {
        static int serial = 0;
        hv::DomainParams p;
        p.name = "pvh-platform-" + std::to_string(++serial);
        p.kind = hv::GuestKind::Pvh;
        p.memory_bytes = 8 << 20;
        domain_ = hypervisor().create_domain(p);
    }
    void TearDown() override { hypervisor().destroy_domain(domain_->id()); }

    void boot(const Code& code) {
        auto dst = domain_->memory().span(kCode, code.bytes.size());
        ASSERT_FALSE(dst.empty());
        std::memcpy(dst.data(), code.bytes.data(), code.bytes.size());
        domain_->set_boot_context(boot::pvh_entry_context(kCode, 0));
        domain_->start();
    }
    // The state it stopped in, or nullopt after `limit`.
    std::optional<hv::DomainState> wait(std::chrono::seconds limit) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            hv::DomainState s = domain_->state();
            if (s == hv::DomainState::Shutdown || s == hv::DomainState::Crashed) return s;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return std::nullopt;
    }

    std::shared_ptr<hv::Domain> domain_;
};

TEST_F(PvhPlatform, HypercallPageFromTheXenMsrThenShutdown) {
    Code c;
    c.mov_esp(kStack);
    c.install_hypercall_page();
    // xen_version(XENVER_version, NULL): the result lands in EAX; keep it in memory.
    c.hypercall(__HYPERVISOR_xen_version, XENVER_version, 0);
    c.mov_mem_eax(static_cast<uint32_t>(kData));
    // The shutdown reason's address is physical (no paging).
    c.shutdown(SHUTDOWN_reboot, static_cast<uint32_t>(kData + 8));
    c.hlt_loop();
    boot(c);
    auto state = wait(std::chrono::seconds(20));
    ASSERT_TRUE(state) << "the PVH vCPU did not shut the domain down";
    EXPECT_EQ(*state, hv::DomainState::Shutdown) << domain_->crash_report();
    EXPECT_EQ(domain_->shutdown_reason(), SHUTDOWN_reboot);
    EXPECT_EQ(*domain_->memory().read<uint32_t>(kData),
              static_cast<uint32_t>((abi::kXenMajor << 16) | abi::kXenMinor));
    // The stubs the MSR asked for: `mov $nr, %eax; out %eax, $port; ret`.
    EXPECT_EQ(*domain_->memory().read<uint8_t>(kHypercallPage + 17 * 32), 0xb8);
    EXPECT_EQ(*domain_->memory().read<uint32_t>(kHypercallPage + 17 * 32 + 1), 17u);
}

// An event for the guest arrives as the vector it chose with HVM_PARAM_CALLBACK_IRQ,
// through the in-kernel LAPIC, while it sleeps in HLT.
TEST_F(PvhPlatform, EventUpcallArrivesAsTheCallbackVector) {
    constexpr uint32_t kGdt = 0x310000, kIdt = 0x311000, kDesc = 0x312000, kHandler = 0x120000;
    constexpr uint8_t kVector = 0xf3;
    // A flat 32-bit code segment at the selector the PVH entry state uses (0x10), and an
    // IDT whose only gate sends kVector to the handler.
    const uint64_t gdt[4] = {0, 0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
    domain_->memory().write(kGdt, gdt);
    const uint64_t gate = (kHandler & 0xffffull) | (uint64_t{0x10} << 16) |
                          (uint64_t{0x8e00} << 32) | (uint64_t{kHandler >> 16} << 48);
    domain_->memory().write(kIdt + kVector * 8, gate);
    struct [[gnu::packed]] Desc {
        uint16_t limit;
        uint32_t base;
    };
    domain_->memory().write(kDesc, Desc{sizeof gdt - 1, kGdt});
    domain_->memory().write(kDesc + 8, Desc{256 * 8 - 1, kIdt});
    xen_hvm_param_t param{};
    param.domid = DOMID_SELF;
    param.index = HVM_PARAM_CALLBACK_IRQ;
    param.value = (uint64_t{HVM_PARAM_CALLBACK_TYPE_VECTOR} << 56) | kVector;
    domain_->memory().write(kData + 16, param);
    const long port = domain_->evtchn().bind_virq(VIRQ_DEBUG, 0);
    ASSERT_GT(port, 0);

    Code h;  // the handler: leave a mark, power off
    h.mov_mem_imm(static_cast<uint32_t>(kData), 0x600d);
    h.shutdown(SHUTDOWN_poweroff, static_cast<uint32_t>(kData + 8));
    h.hlt_loop();
    auto dst = domain_->memory().span(kHandler, h.bytes.size());
    std::memcpy(dst.data(), h.bytes.data(), h.bytes.size());

    Code c;
    c.mov_esp(kStack);
    c.install_hypercall_page();
    c.lgdt(kDesc);
    c.lidt(kDesc + 8);
    c.mov_mem_imm(0xfee000f0, 0x1ff);  // LAPIC spurious-vector register: software-enable it
    c.hypercall(__HYPERVISOR_hvm_op, HVMOP_set_param, static_cast<uint32_t>(kData + 16));
    c.sti();
    c.hlt_loop();
    boot(c);
    // Raise the event once the guest has chosen its vector (it then sleeps in HLT).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (domain_->callback_vector() != kVector && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_EQ(domain_->callback_vector(), kVector) << domain_->crash_report();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    domain_->evtchn().raise_virq(VIRQ_DEBUG, 0);
    auto state = wait(std::chrono::seconds(20));
    ASSERT_TRUE(state) << "the upcall vector never reached the guest's handler";
    EXPECT_EQ(*state, hv::DomainState::Shutdown) << domain_->crash_report();
    EXPECT_EQ(domain_->shutdown_reason(), SHUTDOWN_poweroff);
    EXPECT_EQ(*domain_->memory().read<uint32_t>(kData), 0x600du);
}

TEST_F(PvhPlatform, AcpiSleepRegisterPowersOff) {
    domain_->set_acpi_ports(boot::kPvhSleepControlPort, boot::kPvhResetPort, boot::kPvhResetValue);
    Code c;
    // SLP_TYP 0 with SLP_EN first (not S5: nothing happens), then S5 | SLP_EN, as Linux does.
    c.mov_edx(boot::kPvhSleepControlPort);
    c.mov_eax(0x20);
    c.out_al_dx();
    c.mov_eax((5 << 2) | 0x20);
    c.out_al_dx();
    c.hlt_loop();
    boot(c);
    auto state = wait(std::chrono::seconds(20));
    ASSERT_TRUE(state) << "writing S5 to the sleep control register did not power off";
    EXPECT_EQ(*state, hv::DomainState::Shutdown) << domain_->crash_report();
    EXPECT_EQ(domain_->shutdown_reason(), SHUTDOWN_poweroff);
}

TEST_F(PvhPlatform, MsrWriteOutsideRamIsAFault) {
    // A hypercall page outside RAM: the WRMSR gets #GP; with no IDT that is a triple fault,
    // which crashes the domain instead of writing anywhere.
    Code c;
    c.mov_ecx(0x40000000);
    c.mov_eax(0x7ff00000);
    c.mov_edx(0);
    c.wrmsr();
    c.hlt_loop();
    boot(c);
    auto state = wait(std::chrono::seconds(20));
    ASSERT_TRUE(state);
    EXPECT_EQ(*state, hv::DomainState::Crashed);
}

// The introspector on a PVH vCPU with paging off (its addresses are physical, read through
// hv::Vcpu::refresh_pvh_access): stopped in a loop that counts in memory and makes a
// hypercall through its stub, each step is one instruction inside the code or the stub page,
// the stepped `out` is still the hypercall, a stepped `pushf; popf` leaves no trap flag
// behind, the count read through the vCPU matches the increments stepped, and a count
// written from outside is where the guest goes on counting.
TEST_F(PvhPlatform, TheIntrospectorStepsAPvhVcpuAndReadsAndWritesItsMemory) {
    XENOLITH_NOT_RUN_UNLESS_AVAILABLE(domain_->vcpu(0).debug_support().single_step);
    Code c;
    c.mov_esp(kStack);
    c.install_hypercall_page();
    const size_t loop = c.bytes.size();
    c.inc_mem(static_cast<uint32_t>(kData));
    c.u8(0x9c);  // pushf: stepped, its copy holds the step's trap flag unless taken out
    c.u8(0x9d);  // popf: which would leave the guest trapping (no IDT: a triple fault)
    c.hypercall(__HYPERVISOR_xen_version, XENVER_version, 0);
    c.jmp_back_to(loop);
    boot(c);
    const auto count = [&] { return *domain_->memory().read<uint32_t>(kData); };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (count() < 3 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_GE(count(), 3u) << "the loop did not run: " << domain_->crash_report();

    vmi::Introspector vmi(domain_);
    vmi.stop_all(std::chrono::seconds(5));
    EXPECT_EQ(vmi.control_registers(0).cr0 & (1u << 31), 0u) << "paging is on";
    const auto read_count = [&] {
        std::vector<uint8_t> b = vmi.read_virtual(0, kData, 4);
        uint32_t v = 0;
        if (b.size() == 4) std::memcpy(&v, b.data(), 4);
        return v;
    };
    const uint32_t start = read_count();
    EXPECT_EQ(start, count());
    const hv::VcpuCounters& counters = domain_->vcpu(0).counters();
    uint32_t increments = 0;
    int hypercalls = 0, pushfs = 0;
    for (int i = 0; i < 300 && hypercalls < 2; ++i) {
        const uint64_t rip = vmi.registers(0).rip;
        const std::vector<uint8_t> op = vmi.read_virtual(0, rip, 2);
        ASSERT_EQ(op.size(), 2u);
        const bool inc = op[0] == 0xff && op[1] == 0x05;
        const bool out = op[0] == 0xe7;  // the stub's `out %eax, $port`
        if (op[0] == 0x9c) ++pushfs;
        const uint64_t calls = counters.hypercalls.load();
        vmi.resume({{0, vmi::Action::Step}}, vmi::Action::Stay);
        std::optional<vmi::StopEvent> ev = vmi.wait(std::chrono::seconds(5));
        ASSERT_TRUE(ev) << "step " << i << " from 0x" << std::hex << rip;
        ASSERT_EQ(ev->reason, vmi::Reason::SingleStep);
        ASSERT_EQ(ev->rip, vmi.registers(0).rip);
        const bool in_code = ev->rip >= kCode && ev->rip < kCode + c.bytes.size();
        const bool in_stubs = ev->rip >= kHypercallPage && ev->rip < kHypercallPage + 4096;
        ASSERT_TRUE(in_code || in_stubs) << "step " << i << " went to 0x" << std::hex << ev->rip;
        if (inc) ++increments;
        if (out) {
            EXPECT_EQ(ev->rip, rip + 2) << "step " << i;
            EXPECT_EQ(counters.hypercalls.load(), calls + 1) << "step " << i;
            ++hypercalls;
        }
    }
    EXPECT_EQ(hypercalls, 2);
    EXPECT_GE(increments, 1u);
    EXPECT_GE(pushfs, 1);
    EXPECT_EQ(read_count(), start + increments);

    const uint32_t from_outside = 1000000;
    ASSERT_EQ(vmi.write_virtual(
                  0, kData, {reinterpret_cast<const uint8_t*>(&from_outside), sizeof from_outside}),
              4u);
    vmi.resume({}, vmi::Action::Continue);
    const auto later = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (count() < from_outside + 3 && std::chrono::steady_clock::now() < later)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_GE(count(), from_outside + 3) << domain_->crash_report();
}

}  // namespace
}  // namespace xenolith::integration
