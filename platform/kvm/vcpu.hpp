// A KVM vCPU: its fd, its shared kvm_run page, and register access.
//
// Registers travel through kvm_run's sync-regs area when the host offers
// KVM_CAP_SYNC_REGS: an exit then costs no extra ioctl to read or write them.
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/mapping.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::kvm {

class Vcpu {
  public:
    // `sync_caps`: KVM_CAP_SYNC_REGS's value (which register sets kvm_run can carry).
    Vcpu(UniqueFd fd, size_t mmap_size, uint32_t sync_caps);

    int fd() const { return fd_.get(); }
    kvm_run* run_area() const { return reinterpret_cast<kvm_run*>(run_.data()); }

    // KVM_RUN once. Returns false when interrupted (EINTR, or immediate_exit was set);
    // throws on any other failure.
    bool run();

    // Asks a concurrent or imminent run() to return promptly. Async-signal-safe.
    void request_immediate_exit() {
        std::atomic_ref<uint8_t>(run_area()->immediate_exit).store(1, std::memory_order_release);
    }
    void clear_immediate_exit() {
        std::atomic_ref<uint8_t>(run_area()->immediate_exit).store(0, std::memory_order_release);
    }

    // General registers. With sync regs these are kvm_run fields: valid after run() returns,
    // and written back on the next run() once mark_regs_dirty() is called.
    kvm_regs& regs();
    void mark_regs_dirty();
    // Writes changed general registers with KVM_SET_REGS now instead of at the next run():
    // for what KVM computes from them when it is called (KVM_SET_GUEST_DEBUG's step).
    void write_regs_now();
    kvm_sregs get_sregs() const;
    // Has KVM leave the segment and control registers in kvm_run at every exit too, where
    // the host offers it, so that exit_sregs() costs no ioctl. For vCPUs that need them on
    // a hot path (a PVH guest's hypercalls translate through its current paging).
    void sync_sregs_on_exit();
    // The segment and control registers as of the last exit.
    kvm_sregs exit_sregs() const;
    void set_sregs(const kvm_sregs& sregs);
    // The x87/SSE/AVX state in the XSAVE standard format: KVM_GET_XSAVE2's area where the
    // host has it (a host with AMX refuses KVM_GET_XSAVE's 4096 bytes), else KVM_GET_XSAVE's.
    // set_xsave takes an area get_xsave gave.
    std::vector<uint8_t> get_xsave() const;
    void set_xsave(std::vector<uint8_t>& area);
    // Makes the guest TSC equal the host TSC, where the host allows it.
    bool set_tsc_offset(int64_t offset);
    uint32_t tsc_khz() const;
    void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
    // Clears `vector`'s bit in the in-kernel LAPIC's in-service register, as an EOI for it
    // would. Returns whether it was set. Only between runs, on the vCPU's thread.
    bool clear_in_service(uint8_t vector);
    // One MSR through KVM_GET_MSRS / KVM_SET_MSRS: nullopt / false when KVM does not know
    // it; throws SystemError when the ioctl fails.
    std::optional<uint64_t> get_msr(uint32_t index) const;
    bool set_msr(uint32_t index, uint64_t value);
    // KVM_SET_GUEST_DEBUG with `control` (KVM_GUESTDBG_* flags) and no debug registers.
    // False when the host refuses it (no KVM_CAP_SET_GUEST_DEBUG, or a flag it lacks).
    bool set_guest_debug(uint32_t control);

  private:
    void flush_regs();
    UniqueFd fd_;
    Mapping run_;
    bool sync_regs_ = false;
    bool sync_sregs_available_ = false;
    bool sync_sregs_ = false;
    bool regs_dirty_ = false;
    kvm_regs regs_{};  // used only without sync regs
};

}  // namespace xenolith::kvm
