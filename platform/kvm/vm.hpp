// A KVM virtual machine: memory slots, ioeventfds and vCPU creation.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <utility>

#include "base/unique_fd.hpp"

namespace xenolith::kvm {

class Vcpu;

class Vm {
  public:
    Vm(UniqueFd fd, size_t vcpu_mmap_size) : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}

    int fd() const { return fd_.get(); }
    int check_extension(long cap) const;

    // Maps host memory [host, host+size) at guest-physical `gpa` in `slot`.
    void set_memory_region(uint32_t slot, uint64_t gpa, void* host, uint64_t size,
                           uint32_t flags = 0);
    // The pages of `slot` written since the last call (bit i: the slot's page i), which are
    // write-protected again; the slot needs KVM_MEM_LOG_DIRTY_PAGES. `bits` holds a bit per
    // page, rounded up to 64. Any thread, vCPUs running or not.
    void get_dirty_log(uint32_t slot, uint64_t* bits);
    Vcpu create_vcpu(uint32_t id);

    // --- Hardware-virtualized (PVH) guests -------------------------------------------
    // The in-kernel interrupt controllers (LAPIC per vCPU, PIC, IOAPIC); before any vCPU.
    void create_irqchip();
    // Where VT-x keeps its real-mode TSS and identity map (three pages below 4 GiB, out of
    // RAM); AMD-V ignores it. Before any vCPU.
    void set_tss_addr(uint64_t gpa);
    // MSR accesses the filter denies exit to user space (KVM_EXIT_X86_RDMSR/WRMSR) instead
    // of reaching KVM's MSR emulation: how the Xen hypercall-page MSR gets to the hypervisor.
    void trap_msrs_to_user(std::initializer_list<uint32_t> msrs);
    // An MSI write as a device would make: delivers `vector` (fixed, edge) to the LAPIC with
    // ID `apic_id`. Any thread. Throws on failure; false when KVM dropped it (LAPIC disabled).
    bool signal_msi(uint32_t apic_id, uint8_t vector);

  private:
    UniqueFd fd_;
    size_t vcpu_mmap_size_;
};

// A guest-physical memory slot, removed from the VM when destroyed (KVM then no longer
// refers to the host memory, which may be unmapped after). Needs the Vm to outlive it.
class MemorySlot {
  public:
    MemorySlot(Vm& vm, uint32_t slot, uint64_t gpa, void* host, uint64_t size, uint32_t flags = 0);
    MemorySlot(MemorySlot&& other) noexcept;
    MemorySlot& operator=(MemorySlot&&) = delete;
    MemorySlot(const MemorySlot&) = delete;
    ~MemorySlot();
    uint32_t slot() const { return slot_; }
    uint64_t gpa() const { return gpa_; }
    uint64_t size() const { return size_; }
    uint32_t flags() const { return flags_; }
    // Changes only the flags (KVM_MEM_LOG_DIRTY_PAGES): the slot stays mapped throughout,
    // so vCPUs may be running.
    void set_flags(uint32_t flags);

  private:
    Vm* vm_;
    uint32_t slot_;
    uint64_t gpa_;
    void* host_;
    uint64_t size_;
    uint32_t flags_;
};

// An eventfd that KVM signals in the kernel when the guest writes `port` (no exit to user
// space), or only when it writes `datamatch` there; deassigned when destroyed. Needs the Vm
// to outlive it.
class IoEventFd {
  public:
    IoEventFd(const Vm& vm, uint16_t port, uint32_t len, std::optional<uint64_t> datamatch = {});
    IoEventFd(IoEventFd&& other) noexcept
        : vm_fd_(other.vm_fd_),
          port_(other.port_),
          len_(other.len_),
          datamatch_(other.datamatch_),
          event_(std::move(other.event_)),
          assigned_(std::exchange(other.assigned_, false)) {}
    IoEventFd& operator=(IoEventFd&&) = delete;
    ~IoEventFd();
    int fd() const { return event_.get(); }
    // Stops KVM signalling the eventfd (writes exit to user space again); the fd stays open
    // for whoever polls it. Idempotent.
    void deassign();

  private:
    kvm_ioeventfd request(bool deassign) const;
    int vm_fd_;
    uint16_t port_;
    uint32_t len_;
    std::optional<uint64_t> datamatch_;
    UniqueFd event_;
    bool assigned_ = false;
};

}  // namespace xenolith::kvm
