// A platform::Vcpu on KVM: KVM_RUN turned into neutral exits. PV guests run at CPL 3 (the
// state pv_sregs builds); PVH guests' port I/O, MMIO and MSR exits are handled here, with
// no device model: absent devices read all ones, the ACPI registers power off or reboot,
// the Xen MSR asks for a hypercall page.
#pragma once

#include <linux/kvm.h>
#include <pthread.h>

#include <atomic>
#include <optional>

#include "platform/kvm/probe.hpp"
#include "platform/kvm/vcpu.hpp"
#include "platform/platform.hpp"

namespace xenolith::kvm {

class KvmVm;

class KvmVcpu final : public platform::Vcpu {
  public:
    KvmVcpu(const KvmVm& vm, kvm::Vcpu cpu, bool hvm, Flavour flavour);
    ~KvmVcpu() override;

    void boot(const platform::BootContext& ctx) override;
    platform::Exit run() override;
    void request_exit() noexcept override;
    void note_exit_request() noexcept override { cpu_.request_immediate_exit(); }
    void clear_exit_request() noexcept override { cpu_.clear_immediate_exit(); }
    platform::Registers& regs() override { return regs_; }
    void mark_regs_dirty() override { regs_dirty_ = true; }
    platform::ControlRegisters control_registers() override;
    platform::ExtendedState extended_state() override;
    void complete_hypercall_page(bool ok) override { cpu_.run_area()->msr.error = ok ? 0 : 1; }
    bool retire_vector(uint8_t vector) override { return cpu_.clear_in_service(vector); }
    std::optional<uint64_t> read_msr(uint32_t index) override { return cpu_.get_msr(index); }
    bool write_msr(uint32_t index, uint64_t value) override { return cpu_.set_msr(index, value); }
    bool set_single_step(bool on) override;
    platform::DebugSupport debug_support() const override;
    void complete_write(bool perform) override;
    bool write_exit_after_instruction() const override { return true; }

  private:
    // A restored PV vCPU's FPU state (BootContext::fpu).
    void restore_fpu(const platform::FpuState& fpu);
    platform::Exit decode_exit();
    platform::Exit decode_port_io();
    std::optional<platform::Exit> decode_pvh_exit();
    platform::Exit pvh_port_io();
    platform::Exit probe_exit();
    platform::Exit pvh_msr();
    platform::Exit decode_debug();
    // KVM_SET_GUEST_DEBUG for the current breakpoint and step settings.
    bool apply_guest_debug(bool step);
    // A guest write KVM could not make: into a read-only (watched) RAM slot, or one
    // released meanwhile, which is made at once. nullopt: not RAM.
    std::optional<platform::Exit> ram_write_exit();

    const KvmVm& vm_;
    kvm::Vcpu cpu_;
    const bool hvm_;
    // VT-x and AMD-V leave RIP on a port-I/O exit's `out` (KVM steps over it at the next
    // KVM_RUN only if RIP is unchanged); PVM's emulator has already moved it.
    const bool rip_on_out_;
    platform::Registers regs_;
    bool regs_dirty_ = false;
    // Introspection (KVM_SET_GUEST_DEBUG): a PV guest's int3 exits to user space from boot
    // on (it has no handler of its own, so it is a crash or a debugger's breakpoint);
    // stepping is on only while a debugger asks for it.
    bool breakpoint_exits_ = false;
    bool single_step_ = false;
    std::atomic<bool> in_run_{false};
    std::atomic<pthread_t> runner_{};
    // The last DebugExit::Write's data, until complete_write().
    struct PendingWrite {
        uint64_t gpa = 0;
        uint8_t data[8] = {};
        uint32_t len = 0;
    };
    std::optional<PendingWrite> write_;
};

// The segment and control registers of a PV vCPU at CPL 3 (docs/guest-abi.md), starting
// from KVM's defaults in `base`.
kvm_sregs pv_sregs(kvm_sregs base, const platform::BootContext& ctx);

}  // namespace xenolith::kvm
