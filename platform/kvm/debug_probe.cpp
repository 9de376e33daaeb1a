#include "platform/kvm/debug_probe.hpp"

#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <exception>

#include "base/mapping.hpp"
#include "platform/kvm/kvm_vcpu.hpp"
#include "platform/kvm/vcpu.hpp"
#include "platform/kvm/vm.hpp"

namespace xenolith::kvm {

namespace {

// The scratch guest: 2 MiB of RAM mapped 1:1 by one large page, user-accessible.
constexpr uint64_t kRamSize = 2u << 20;
constexpr uint64_t kCode = 0x1000, kPml4 = 0x2000, kPdpt = 0x3000, kPd = 0x4000, kTss = 0x5000;
constexpr uint64_t kStackTop = 0x8000;
constexpr uint64_t kPresentWritableUser = 0x7, kLargePage = 0x80;
constexpr uint8_t kInt3 = 0xcc, kNop = 0x90, kHlt = 0xf4;
constexpr uint8_t kOutAlImm8 = 0xe6, kProbePort = 0x80;
constexpr uint32_t kDebugVector = 1, kBreakpointVector = 3;
constexpr uint64_t kDr6SingleStep = 1u << 14;

// What one run of `code` under guest-debug `control` ended with.
struct Outcome {
    uint32_t exit_reason = 0;
    kvm_debug_exit_arch debug{};
    uint64_t rip = 0;
};

Outcome run_once(const System& system, std::initializer_list<uint8_t> code, uint32_t control) {
    Mapping ram = Mapping::map(-1, kRamSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    uint8_t* m = ram.data();
    std::memcpy(m + kCode, std::data(code), code.size());
    // Whatever follows the probe's instructions ends the run (hlt at CPL 3: #GP, no IDT,
    // a triple fault), so a run that did not exit where it should still ends.
    std::memset(m + kCode + code.size(), kHlt, 16);
    auto entry = [&](uint64_t at, uint64_t value) { std::memcpy(m + at, &value, sizeof value); };
    entry(kPml4, kPdpt | kPresentWritableUser);
    entry(kPdpt, kPd | kPresentWritableUser);
    entry(kPd, 0 | kPresentWritableUser | kLargePage);

    Vm vm = system.create_vm();
    MemorySlot slot(vm, 0, 0, m, kRamSize);
    Vcpu cpu = vm.create_vcpu(0);
    platform::BootContext ctx;
    ctx.cr3 = kPml4;
    ctx.tss_base = kTss;
    cpu.set_sregs(pv_sregs(cpu.get_sregs(), ctx));
    kvm_regs& r = cpu.regs();
    r = kvm_regs{};
    r.rip = kCode;
    r.rsp = kStackTop;
    // IOPL 3, as PV guests boot: VT-x and AMD-V then allow the `out` without looking at the
    // TSS (QEMU's TCG refuses the busy TSS's bitmap); PVM ignores IOPL and reads the bitmap.
    r.rflags = 0x3002;
    cpu.mark_regs_dirty();
    // Before KVM_SET_GUEST_DEBUG: KVM arms a step at the RIP the vCPU has then.
    cpu.write_regs_now();
    Outcome out;
    if (control != 0 && !cpu.set_guest_debug(control)) {
        out.exit_reason = ~0u;
        return out;
    }
    // A signal may interrupt KVM_RUN before the guest ran (the vCPU kick signal is
    // process-wide): try again.
    bool exited = false;
    for (int attempt = 0; attempt < 5 && !exited; ++attempt) exited = cpu.run();
    if (!exited) return out;  // exit_reason 0
    out.exit_reason = cpu.run_area()->exit_reason;
    out.debug = cpu.run_area()->debug.arch;
    out.rip = cpu.regs().rip;
    return out;
}

std::string describe(const Outcome& o) {
    char buf[160];
    if (o.exit_reason == ~0u) return "KVM_SET_GUEST_DEBUG is refused";
    if (o.exit_reason == KVM_EXIT_DEBUG)
        std::snprintf(buf, sizeof buf, "KVM_EXIT_DEBUG with exception %" PRIu32 " at 0x%" PRIx64,
                      o.debug.exception, o.rip);
    else
        std::snprintf(buf, sizeof buf, "KVM exit reason %" PRIu32 " instead of KVM_EXIT_DEBUG",
                      o.exit_reason);
    return buf;
}

std::string probe_breakpoints(const System& system) {
    const Outcome o = run_once(system, {kInt3}, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP);
    if (o.exit_reason == KVM_EXIT_DEBUG && o.debug.exception == kBreakpointVector) return {};
    return "a guest's int3 does not reach the hypervisor on this host's KVM (" + describe(o) + ")";
}

std::string probe_single_step(const System& system) {
    const Outcome o = run_once(system, {kNop, kNop}, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP);
    if (o.exit_reason == KVM_EXIT_DEBUG && o.debug.exception == kDebugVector &&
        (o.debug.dr6 & kDr6SingleStep) && o.rip == kCode + 1)
        return {};
    return "single-stepping does not work on this host's KVM (" + describe(o) + ")";
}

// The control: the scratch guest must run at all (its `out` exits), or the probes below
// would blame the debug features for a guest that never started.
std::string probe_guest_runs(const System& system) {
    const Outcome o = run_once(system, {kOutAlImm8, kProbePort}, 0);
    if (o.exit_reason == KVM_EXIT_IO) return {};
    char buf[120];
    std::snprintf(buf, sizeof buf, "the probe guest did not run (KVM exit reason %" PRIu32 ")",
                  o.exit_reason);
    return buf;
}

GuestDebugProbe run_probe(const System& system) {
    GuestDebugProbe p;
    try {
        if (std::string why = probe_guest_runs(system); !why.empty()) return {why, why};
    } catch (const std::exception& e) {
        const std::string why = std::string("the probe guest failed: ") + e.what();
        return {why, why};
    }
    try {
        p.breakpoints = probe_breakpoints(system);
    } catch (const std::exception& e) {
        p.breakpoints = std::string("the int3 probe failed: ") + e.what();
    }
    try {
        p.single_step = probe_single_step(system);
    } catch (const std::exception& e) {
        p.single_step = std::string("the single-step probe failed: ") + e.what();
    }
    return p;
}

}  // namespace

const GuestDebugProbe& guest_debug_probe(const System& system) {
    static const GuestDebugProbe probe = run_probe(system);
    return probe;
}

}  // namespace xenolith::kvm
