#include "platform/kvm/kvm_vcpu.hpp"

#include <signal.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "abi/xenolith.h"
#include "base/error.hpp"
#include "platform/kvm/debug_probe.hpp"
#include "platform/kvm/hvm_cpuid.hpp"
#include "platform/kvm/kvm_platform.hpp"

namespace xenolith::kvm {

namespace {

constexpr uint64_t kRflagsIopl3If = 0x3202;
// `out %eax, $imm8`, the hypercall stubs' and the notify port's instruction.
constexpr uint64_t kOutImm8Length = 2;

platform::Registers from_kvm(const kvm_regs& k) {
    return {.rax = k.rax,
            .rbx = k.rbx,
            .rcx = k.rcx,
            .rdx = k.rdx,
            .rsi = k.rsi,
            .rdi = k.rdi,
            .rbp = k.rbp,
            .rsp = k.rsp,
            .r8 = k.r8,
            .r9 = k.r9,
            .r10 = k.r10,
            .r11 = k.r11,
            .r12 = k.r12,
            .r13 = k.r13,
            .r14 = k.r14,
            .r15 = k.r15,
            .rip = k.rip,
            .rflags = k.rflags};
}

void to_kvm(const platform::Registers& r, kvm_regs& k) {
    k = kvm_regs{.rax = r.rax,
                 .rbx = r.rbx,
                 .rcx = r.rcx,
                 .rdx = r.rdx,
                 .rsi = r.rsi,
                 .rdi = r.rdi,
                 .rsp = r.rsp,
                 .rbp = r.rbp,
                 .r8 = r.r8,
                 .r9 = r.r9,
                 .r10 = r.r10,
                 .r11 = r.r11,
                 .r12 = r.r12,
                 .r13 = r.r13,
                 .r14 = r.r14,
                 .r15 = r.r15,
                 .rip = r.rip,
                 .rflags = r.rflags};
}

kvm_segment user_segment(uint16_t selector, bool code) {
    kvm_segment s{};
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = code ? 11 : 3;  // execute/read accessed, or read/write accessed
    s.present = 1;
    s.dpl = 3;
    s.db = code ? 0 : 1;
    s.s = 1;
    s.l = code ? 1 : 0;
    s.g = 1;
    return s;
}

kvm_segment to_kvm(const platform::Segment& r) {
    kvm_segment s{};
    s.base = r.base;
    s.limit = r.limit;
    s.selector = r.selector;
    s.type = r.type;
    s.present = r.present;
    s.dpl = r.dpl;
    s.db = r.db;
    s.s = r.s;
    s.l = r.l;
    s.g = r.g;
    s.unusable = r.present ? 0 : 1;
    return s;
}

// IA32_APIC_BASE: the default base, enabled, this is the boot processor.
constexpr uint64_t kApicBase = 0xfee00000 | (1u << 11) | (1u << 8);

kvm_sregs pvh_sregs(const platform::SegmentState& st) {
    kvm_sregs s{};
    s.cs = to_kvm(st.cs);
    s.ds = to_kvm(st.ds);
    s.es = to_kvm(st.es);
    s.ss = to_kvm(st.ss);
    s.fs = to_kvm(st.fs);
    s.gs = to_kvm(st.gs);
    s.tr = to_kvm(st.tr);
    s.ldt = to_kvm(st.ldt);
    s.gdt.base = st.gdt.base;
    s.gdt.limit = st.gdt.limit;
    s.idt.base = st.idt.base;
    s.idt.limit = st.idt.limit;
    s.cr0 = st.cr0;
    s.cr3 = st.cr3;
    s.cr4 = st.cr4;
    s.efer = st.efer;
    s.apic_base = kApicBase;
    return s;
}

platform::Exit fault(std::string what) {
    platform::Exit e{platform::Exit::Kind::Fault};
    e.what = std::move(what);
    return e;
}

platform::Exit fault(const char* fmt, uint64_t value) {
    char buf[160];
    std::snprintf(buf, sizeof buf, fmt, value);
    return fault(std::string(buf));
}

}  // namespace

kvm_sregs pv_sregs(kvm_sregs s, const platform::BootContext& ctx) {
    // The CPL-3 long-mode state that PVM runs natively (shared/PLATFORM.md); on VT-x/AMD-V
    // it is an ordinary user-mode state.
    s.cs = user_segment(0x2b, true);
    s.ss = s.ds = s.es = user_segment(0x23, false);
    s.fs = user_segment(0x23, false);
    s.gs = user_segment(0x23, false);
    s.fs.base = ctx.fs_base;
    s.gs.base = ctx.gs_base;
    // A 64-bit TSS covering one page: its I/O bitmap decides which ports `out` may reach.
    s.tr = kvm_segment{};
    s.tr.base = ctx.tss_base;
    s.tr.limit = 4095;
    s.tr.selector = 0x40;
    s.tr.type = 11;  // busy 64-bit TSS
    s.tr.present = 1;
    constexpr uint64_t PE = 1, MP = 2, ET = 1 << 4, NE = 1 << 5, WP = 1 << 16, AM = 1 << 18,
                       PG = 1ull << 31;
    s.cr0 = PE | MP | ET | NE | WP | AM | PG;
    constexpr uint64_t PAE = 1 << 5, OSFXSR = 1 << 9, OSXMMEXCPT = 1 << 10, FSGSBASE = 1 << 16;
    s.cr4 = PAE | OSFXSR | OSXMMEXCPT | FSGSBASE;
    constexpr uint64_t SCE = 1, LME = 1 << 8, LMA = 1 << 10, NXE = 1 << 11;
    s.efer = SCE | LME | LMA | NXE;
    s.cr3 = ctx.cr3;
    return s;
}

KvmVcpu::KvmVcpu(const KvmVm& vm, kvm::Vcpu cpu, bool hvm, Flavour flavour)
    : vm_(vm), cpu_(std::move(cpu)), hvm_(hvm), rip_on_out_(flavour != Flavour::Pvm) {
    // The guest TSC is the host TSC, so one pvclock scale serves every vCPU and RDTSC in
    // the guest and in the host agree (benchmarks compare them directly).
    cpu_.set_tsc_offset(0);
    // A PVH hypercall's arguments translate through the guest's current paging: keep the
    // control registers in kvm_run so that reading them costs no ioctl.
    if (hvm_) cpu_.sync_sregs_on_exit();
}

KvmVcpu::~KvmVcpu() = default;

void KvmVcpu::boot(const platform::BootContext& ctx) {
    runner_.store(::pthread_self());
    platform::bind_kick_target(this);
    using Mode = platform::BootContext::Mode;
    switch (ctx.mode) {
        case Mode::PvUser64:
            cpu_.set_sregs(pv_sregs(cpu_.get_sregs(), ctx));
            if (ctx.fpu) restore_fpu(*ctx.fpu);
            regs_ = ctx.regs;
            regs_.rflags = kRflagsIopl3If | (ctx.regs.rflags & platform::kArithmeticFlags);
            regs_dirty_ = true;
            // A PV guest has no exception handlers: its int3 is a debugger's breakpoint or
            // a crash, and either way hv/ hears of it as Exit::Debug (as on the process
            // platform). Where the host cannot, it stays a triple fault.
            breakpoint_exits_ = true;
            breakpoint_exits_ = apply_guest_debug(false);
            break;
        case Mode::Pvh32:
            cpu_.set_sregs(pvh_sregs(ctx.segments));
            regs_ = ctx.regs;
            regs_dirty_ = true;
            break;
        case Mode::PvhWaitForSipi:
            // KVM's reset state stays: the in-kernel LAPIC holds the vCPU until the guest
            // starts it with INIT and SIPI, as on hardware.
            regs_ = from_kvm(cpu_.regs());
            break;
    }
}

void KvmVcpu::request_exit() noexcept {
    cpu_.request_immediate_exit();
    if (in_run_.load()) ::pthread_kill(runner_.load(), platform::kick_signal());
}

platform::Exit KvmVcpu::run() {
    if (regs_dirty_) {
        to_kvm(regs_, cpu_.regs());
        cpu_.mark_regs_dirty();
        regs_dirty_ = false;
        // KVM arms a step for the RIP it had when KVM_SET_GUEST_DEBUG came, and a register
        // write at another RIP (a hypercall's result, a debugger's change) drops the trap
        // flag: the registers go in first, then the step is armed again.
        if (single_step_) {
            cpu_.write_regs_now();
            apply_guest_debug(true);
        }
    }
    in_run_.store(true);
    const bool exited = cpu_.run();
    in_run_.store(false);
    regs_ = from_kvm(cpu_.regs());
    if (!exited) return {platform::Exit::Kind::Interrupted};
    return decode_exit();
}

platform::ControlRegisters KvmVcpu::control_registers() {
    const kvm_sregs s = hvm_ ? cpu_.exit_sregs() : cpu_.get_sregs();
    return {s.cr0, s.cr2, s.cr3, s.cr4, s.efer};
}

platform::ExtendedState KvmVcpu::extended_state() {
    if (hvm_) throw Error("a PVH vCPU's state cannot be saved yet (its LAPIC, MSRs and modes)");
    const kvm_sregs s = cpu_.get_sregs();
    return {s.fs.base, s.gs.base, platform::FpuState::from_xsave(cpu_.get_xsave())};
}

void KvmVcpu::restore_fpu(const platform::FpuState& fpu) {
    std::vector<uint8_t> area = cpu_.get_xsave();
    // A PV vCPU runs without CR4.OSXSAVE (pv_sregs): x87 and SSE only.
    const std::string why = fpu.into_xsave(area, platform::kXfeatureX87 | platform::kXfeatureSse);
    if (!why.empty()) throw Error(why);
    cpu_.set_xsave(area);
}

platform::Exit KvmVcpu::decode_exit() {
    if (cpu_.run_area()->exit_reason == KVM_EXIT_MMIO)
        if (auto e = ram_write_exit()) return *e;
    if (hvm_)
        if (auto e = decode_pvh_exit()) return *e;
    kvm_run* run = cpu_.run_area();
    switch (run->exit_reason) {
        case KVM_EXIT_IO:
            return decode_port_io();
        case KVM_EXIT_SHUTDOWN:
            return fault("guest exception (the vCPU faulted)");
        case KVM_EXIT_MMIO: {
            platform::Exit e =
                fault("guest access to 0x%" PRIx64 " outside its RAM", run->mmio.phys_addr);
            e.fault_address = run->mmio.phys_addr;
            return e;
        }
        case KVM_EXIT_INTERNAL_ERROR:
            return fault("KVM internal error, suberror %" PRIu64, run->internal.suberror);
        case KVM_EXIT_FAIL_ENTRY:
            return fault("KVM entry failure, reason 0x%" PRIx64,
                         run->fail_entry.hardware_entry_failure_reason);
        case KVM_EXIT_INTR:
            return {platform::Exit::Kind::Interrupted};
        case KVM_EXIT_DEBUG:
            return decode_debug();
        default:
            return fault("unexpected KVM exit reason %" PRIu64, run->exit_reason);
    }
}

platform::Exit KvmVcpu::decode_port_io() {
    kvm_run* run = cpu_.run_area();
    if (run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 4 && run->io.count == 1 &&
        (run->io.port == XENOLITH_HYPERCALL_PORT || run->io.port == XENOLITH_NOTIFY_PORT)) {
        uint32_t value;
        std::memcpy(&value, reinterpret_cast<uint8_t*>(run) + run->io.data_offset, sizeof value);
        // The neutral RIP is past the `out`. Written back (a hypercall's result, an upcall),
        // it differs from KVM's, so KVM does not step over the `out` a second time.
        if (rip_on_out_) regs_.rip += kOutImm8Length;
        // Stepping, KVM would finish an `out` whose RIP it finds unchanged with a step trap
        // of its own at the next KVM_RUN, before any guest instruction: write RIP back.
        if (rip_on_out_ && single_step_) regs_dirty_ = true;
        const auto kind = run->io.port == XENOLITH_HYPERCALL_PORT ? platform::Exit::Kind::Hypercall
                                                                  : platform::Exit::Kind::Notify;
        return {kind, value};
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, "guest port I/O %s port 0x%x size %u (not a hypercall)",
                  run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", run->io.port, run->io.size);
    return fault(std::string(buf));
}

std::optional<platform::Exit> KvmVcpu::decode_pvh_exit() {
    kvm_run* run = cpu_.run_area();
    switch (run->exit_reason) {
        case KVM_EXIT_IO:
            // The hypercall page's stubs use the PV path; any other port has no device.
            if (run->io.port == XENOLITH_HYPERCALL_PORT) return std::nullopt;
            if (run->io.port == XENOLITH_PROBE_PORT && run->io.direction == KVM_EXIT_IO_OUT)
                return probe_exit();
            return pvh_port_io();
        case KVM_EXIT_MMIO:
            // No device model: reads of unbacked addresses see all ones (an absent
            // device), writes go nowhere.
            if (!run->mmio.is_write) std::memset(run->mmio.data, 0xff, sizeof run->mmio.data);
            return platform::Exit{platform::Exit::Kind::Interrupted};
        case KVM_EXIT_X86_RDMSR:
        case KVM_EXIT_X86_WRMSR:
            return pvh_msr();
        case KVM_EXIT_SHUTDOWN:
            return fault("triple fault (the guest reset its vCPU)");
        default:
            return std::nullopt;
    }
}

std::optional<platform::Exit> KvmVcpu::ram_write_exit() {
    const kvm_run* run = cpu_.run_area();
    const uint64_t gpa = run->mmio.phys_addr;
    const uint32_t len = std::min<uint32_t>(run->mmio.len, sizeof run->mmio.data);
    const RamLayout& ram = vm_.ram();
    if (!run->mmio.is_write || !ram.in_ram(gpa, len)) return std::nullopt;
    if (!ram.watched(gpa)) {
        // Released while this vCPU was on its way: the write happens as if never watched.
        ram.write(gpa, run->mmio.data, len);
        return platform::Exit{platform::Exit::Kind::Interrupted};
    }
    PendingWrite w;
    w.gpa = gpa;
    w.len = len;
    std::memcpy(w.data, run->mmio.data, len);
    write_ = w;
    // KVM's emulator has finished the instruction but for the store, so RIP is past it.
    platform::Exit e{platform::Exit::Kind::Debug};
    e.value = static_cast<uint64_t>(platform::DebugExit::Write);
    e.fault_address = gpa;
    e.what = "guest write to a watched page";
    return e;
}

void KvmVcpu::complete_write(bool perform) {
    if (write_ && perform) vm_.ram().write(write_->gpa, write_->data, write_->len);
    write_.reset();
}

platform::Exit KvmVcpu::pvh_port_io() {
    kvm_run* run = cpu_.run_area();
    uint8_t* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
    const size_t bytes = size_t{run->io.size} * run->io.count;
    if (run->io.direction == KVM_EXIT_IO_IN) {
        std::memset(data, 0xff, bytes);
        return {platform::Exit::Kind::Interrupted};
    }
    if (bytes == 0) return {platform::Exit::Kind::Interrupted};
    const uint8_t value = data[0];
    const AcpiPorts& acpi = vm_.acpi_ports();
    if (run->io.port == acpi.sleep_control && acpi.sleep_control != 0) {
        // ACPI sleep control register (hardware-reduced ACPI): SLP_EN (bit 5) with
        // SLP_TYP (bits 4:2) = 5, the _S5 value the DSDT gives, is "soft off".
        constexpr uint8_t kSlpEn = 1u << 5;
        if ((value & kSlpEn) && ((value >> 2) & 7) == 5) return {platform::Exit::Kind::PowerOff};
    } else if (run->io.port == acpi.reset && acpi.reset != 0) {
        if (value == acpi.reset_value) return {platform::Exit::Kind::Reboot};
    }
    return {platform::Exit::Kind::Interrupted};
}

platform::Exit KvmVcpu::probe_exit() {
    // As for a hypercall's `out`: the neutral RIP is past it (the probe's is imm8 too).
    if (rip_on_out_) regs_.rip += kOutImm8Length;
    return {platform::Exit::Kind::Debug, static_cast<uint64_t>(platform::DebugExit::Probe)};
}

platform::Exit KvmVcpu::pvh_msr() {
    kvm_run* run = cpu_.run_area();
    run->msr.error = 1;  // #GP unless handled: as for an MSR that does not exist
    if (run->exit_reason == KVM_EXIT_X86_WRMSR && run->msr.index == kXenHypercallMsr)
        return {platform::Exit::Kind::HypercallPage, run->msr.data};
    return {platform::Exit::Kind::Interrupted};
}

// ---- introspection -----------------------------------------------------------------------

bool KvmVcpu::apply_guest_debug(bool step) {
    uint32_t control = 0;
    if (breakpoint_exits_) control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
    if (step) control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
    // Held back while stepping: an interrupt KVM injects would make the step land on its
    // handler's first instruction (PVH's LAPIC timer). KVM_GUESTDBG_BLOCKIRQ is Linux 5.15+;
    // older hosts step without it.
    if (step && cpu_.set_guest_debug(control | KVM_GUESTDBG_BLOCKIRQ)) return true;
    return cpu_.set_guest_debug(control);
}

platform::DebugSupport KvmVcpu::debug_support() const {
    platform::DebugSupport s;
    const GuestDebugProbe& probe = guest_debug_probe(vm_.platform().system());
    s.single_step = probe.single_step;
    // A PVH guest handles its own int3s (Linux patches its code with them): a debugger's
    // breakpoints would need the others re-injected, which is not built.
    s.breakpoints = hvm_ ? "software breakpoints in PVH guests are not supported on KVM yet"
                         : probe.breakpoints;
    return s;
}

bool KvmVcpu::set_single_step(bool on) {
    if (on == single_step_) return true;
    if (!apply_guest_debug(on)) return false;
    single_step_ = on;
    return true;
}

platform::Exit KvmVcpu::decode_debug() {
    const kvm_debug_exit_arch& d = cpu_.run_area()->debug.arch;
    constexpr uint32_t kDebugVector = 1, kBreakpointVector = 3;
    constexpr uint64_t kDr6SingleStep = 1u << 14;  // DR6.BS
    if (d.exception == kBreakpointVector && breakpoint_exits_) {
        // VT-x and AMD-V stop on the int3 itself (`pc` is its address, as QEMU's gdbstub
        // reads it); the seam's RIP is past it, as after the trap. PV code segments have
        // base 0, so RIP and the linear `pc` compare directly.
        if (regs_.rip == d.pc) {
            regs_.rip += 1;
            regs_dirty_ = true;
        }
        platform::Exit e{platform::Exit::Kind::Debug,
                         static_cast<uint64_t>(platform::DebugExit::Breakpoint)};
        e.what = "guest exception: breakpoint (int3)";
        return e;
    }
    if (d.exception == kDebugVector && single_step_ && (d.dr6 & kDr6SingleStep)) {
        platform::Exit e{platform::Exit::Kind::Debug,
                         static_cast<uint64_t>(platform::DebugExit::SingleStep)};
        e.what = "guest exception: debug trap";
        return e;
    }
    return fault("unexpected debug exit (exception %" PRIu64 ")", d.exception);
}

}  // namespace xenolith::kvm
