// A KVM virtual machine: memory slots, ioeventfds and vCPU creation.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
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
    Vcpu create_vcpu(uint32_t id);

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
    uint64_t gpa() const { return gpa_; }
    uint64_t size() const { return size_; }

private:
    Vm* vm_;
    uint32_t slot_;
    uint64_t gpa_;
    uint64_t size_;
};

// An eventfd that KVM signals in the kernel when the guest writes `port` (no exit to user
// space), or only when it writes `datamatch` there; deassigned when destroyed. Needs the Vm
// to outlive it.
class IoEventFd {
public:
    IoEventFd(const Vm& vm, uint16_t port, uint32_t len, std::optional<uint64_t> datamatch = {});
    IoEventFd(IoEventFd&& other) noexcept
        : vm_fd_(other.vm_fd_), port_(other.port_), len_(other.len_), datamatch_(other.datamatch_),
          event_(std::move(other.event_)), assigned_(std::exchange(other.assigned_, false)) {}
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
