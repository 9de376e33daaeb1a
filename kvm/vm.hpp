// A KVM virtual machine: memory slots, ioeventfds and vCPU creation.
#pragma once

#include <cstdint>

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
// space); deassigned when destroyed. Needs the Vm to outlive it.
class IoEventFd {
public:
    IoEventFd(const Vm& vm, uint16_t port, uint32_t len);
    IoEventFd(IoEventFd&&) noexcept = default;
    IoEventFd& operator=(IoEventFd&&) = delete;
    ~IoEventFd();
    int fd() const { return event_.get(); }

private:
    int vm_fd_;
    uint16_t port_;
    uint32_t len_;
    UniqueFd event_;
};

}  // namespace xenolith::kvm
