#include "platform/kvm/vm.hpp"

#include <linux/kvm.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <utility>

#include "base/error.hpp"
#include "platform/kvm/vcpu.hpp"

namespace xenolith::kvm {

int Vm::check_extension(long cap) const {
    int rc = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
    return rc < 0 ? 0 : rc;
}

void Vm::set_memory_region(uint32_t slot, uint64_t gpa, void* host, uint64_t size, uint32_t flags) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.flags = flags;
    region.guest_phys_addr = gpa;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<uint64_t>(host);
    check_syscall(::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region),
                  "KVM_SET_USER_MEMORY_REGION");
}

void Vm::get_dirty_log(uint32_t slot, uint64_t* bits) {
    kvm_dirty_log log{};
    log.slot = slot;
    log.dirty_bitmap = bits;
    check_syscall(::ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log), "KVM_GET_DIRTY_LOG");
}

Vcpu Vm::create_vcpu(uint32_t id) {
    int fd =
        static_cast<int>(check_syscall(::ioctl(fd_.get(), KVM_CREATE_VCPU, id), "KVM_CREATE_VCPU"));
    return Vcpu(UniqueFd(fd), vcpu_mmap_size_,
                static_cast<uint32_t>(check_extension(KVM_CAP_SYNC_REGS)));
}

void Vm::create_irqchip() {
    check_syscall(::ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP");
}

void Vm::set_tss_addr(uint64_t gpa) {
    check_syscall(::ioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(gpa)),
                  "KVM_SET_TSS_ADDR");
}

void Vm::trap_msrs_to_user(std::initializer_list<uint32_t> msrs) {
    kvm_enable_cap cap{};
    cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
    cap.args[0] = KVM_MSR_EXIT_REASON_FILTER;
    check_syscall(::ioctl(fd_.get(), KVM_ENABLE_CAP, &cap), "KVM_ENABLE_CAP(X86_USER_SPACE_MSR)");
    // Default allow; one range per MSR whose single bitmap bit is 0, which denies it.
    kvm_msr_filter filter{};
    filter.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
    static uint8_t deny = 0;
    size_t n = 0;
    for (uint32_t msr : msrs) {
        if (n == KVM_MSR_FILTER_MAX_RANGES) throw Error("too many MSRs to trap");
        kvm_msr_filter_range& r = filter.ranges[n++];
        r.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
        r.base = msr;
        r.nmsrs = 1;
        r.bitmap = &deny;
    }
    check_syscall(::ioctl(fd_.get(), KVM_X86_SET_MSR_FILTER, &filter), "KVM_X86_SET_MSR_FILTER");
}

bool Vm::signal_msi(uint32_t apic_id, uint8_t vector) {
    kvm_msi msi{};
    // The x86 MSI address: 0xfee00000 | destination APIC ID << 12, physical destination
    // mode; the data: the vector, fixed delivery, edge-triggered.
    msi.address_lo = 0xfee00000u | ((apic_id & 0xff) << 12);
    msi.address_hi = 0;
    msi.data = vector;
    int rc = ::ioctl(fd_.get(), KVM_SIGNAL_MSI, &msi);
    if (rc < 0) throw SystemError("KVM_SIGNAL_MSI", errno);
    return rc > 0;
}

MemorySlot::MemorySlot(Vm& vm, uint32_t slot, uint64_t gpa, void* host, uint64_t size,
                       uint32_t flags)
    : vm_(&vm), slot_(slot), gpa_(gpa), host_(host), size_(size), flags_(flags) {
    vm.set_memory_region(slot, gpa, host, size, flags);
}

MemorySlot::MemorySlot(MemorySlot&& other) noexcept
    : vm_(std::exchange(other.vm_, nullptr)),
      slot_(other.slot_),
      gpa_(other.gpa_),
      host_(other.host_),
      size_(other.size_),
      flags_(other.flags_) {}

void MemorySlot::set_flags(uint32_t flags) {
    vm_->set_memory_region(slot_, gpa_, host_, size_, flags);
    flags_ = flags;
}

MemorySlot::~MemorySlot() {
    if (!vm_) return;
    kvm_userspace_memory_region region{};
    region.slot = slot_;  // size 0 deletes the slot
    ::ioctl(vm_->fd(), KVM_SET_USER_MEMORY_REGION, &region);
}

IoEventFd::IoEventFd(const Vm& vm, uint16_t port, uint32_t len, std::optional<uint64_t> datamatch)
    : vm_fd_(vm.fd()), port_(port), len_(len), datamatch_(datamatch) {
    event_.reset(
        static_cast<int>(check_syscall(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")));
    kvm_ioeventfd req = request(false);
    check_syscall(::ioctl(vm_fd_, KVM_IOEVENTFD, &req), "KVM_IOEVENTFD");
    assigned_ = true;
}

void IoEventFd::deassign() {
    if (!assigned_ || !event_) return;
    kvm_ioeventfd req = request(true);
    ::ioctl(vm_fd_, KVM_IOEVENTFD, &req);
    assigned_ = false;
}

kvm_ioeventfd IoEventFd::request(bool deassign) const {
    kvm_ioeventfd req{};
    req.addr = port_;
    req.len = len_;
    req.fd = event_.get();
    req.flags = KVM_IOEVENTFD_FLAG_PIO | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
    if (datamatch_) {
        req.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        req.datamatch = *datamatch_;
    }
    return req;
}

IoEventFd::~IoEventFd() {
    deassign();
}

}  // namespace xenolith::kvm
