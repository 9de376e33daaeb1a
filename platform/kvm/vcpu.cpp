#include "platform/kvm/vcpu.hpp"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "base/error.hpp"
#include "platform/kvm/system.hpp"

namespace xenolith::kvm {

Vcpu::Vcpu(UniqueFd fd, size_t mmap_size, uint32_t sync_caps)
    : fd_(std::move(fd)),
      run_(Mapping::map(fd_.get(), mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED)),
      sync_regs_((sync_caps & KVM_SYNC_X86_REGS) != 0),
      sync_sregs_available_((sync_caps & KVM_SYNC_X86_SREGS) != 0) {
    // With sync regs KVM leaves the general registers in kvm_run after every exit; hosts
    // without it fall back to KVM_GET_REGS/KVM_SET_REGS.
    if (sync_regs_)
        run_area()->kvm_valid_regs = KVM_SYNC_X86_REGS;
    else
        check_syscall(::ioctl(fd_.get(), KVM_GET_REGS, &regs_), "KVM_GET_REGS");
}

bool Vcpu::run() {
    flush_regs();
    const bool exited = ::ioctl(fd_.get(), KVM_RUN, 0) == 0;
    if (!exited && errno != EINTR && errno != EAGAIN) throw SystemError("KVM_RUN", errno);
    // Interrupted runs may have run the guest too: its registers moved either way.
    if (!sync_regs_) check_syscall(::ioctl(fd_.get(), KVM_GET_REGS, &regs_), "KVM_GET_REGS");
    return exited;
}

kvm_regs& Vcpu::regs() {
    return sync_regs_ ? run_area()->s.regs.regs : regs_;
}

void Vcpu::mark_regs_dirty() {
    regs_dirty_ = true;
}

void Vcpu::write_regs_now() {
    if (!regs_dirty_) return;
    regs_dirty_ = false;
    check_syscall(::ioctl(fd_.get(), KVM_SET_REGS, &regs()), "KVM_SET_REGS");
}

void Vcpu::flush_regs() {
    if (!regs_dirty_) return;
    regs_dirty_ = false;
    if (sync_regs_)
        run_area()->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
    else
        check_syscall(::ioctl(fd_.get(), KVM_SET_REGS, &regs_), "KVM_SET_REGS");
}

kvm_sregs Vcpu::get_sregs() const {
    kvm_sregs sregs{};
    check_syscall(::ioctl(fd_.get(), KVM_GET_SREGS, &sregs), "KVM_GET_SREGS");
    return sregs;
}

void Vcpu::sync_sregs_on_exit() {
    if (!sync_sregs_available_) return;
    run_area()->kvm_valid_regs |= KVM_SYNC_X86_SREGS;
    sync_sregs_ = true;
}

kvm_sregs Vcpu::exit_sregs() const {
    return sync_sregs_ ? run_area()->s.regs.sregs : get_sregs();
}

namespace {

// struct kvm_fpu as the FXSAVE area's layout (the XSAVE standard format's first 512 bytes).
constexpr size_t kFxsaveBytes = 512;

std::vector<uint8_t> fxsave_from(const kvm_fpu& f) {
    std::vector<uint8_t> a(kFxsaveBytes, 0);
    std::memcpy(&a[0], &f.fcw, 2);
    std::memcpy(&a[2], &f.fsw, 2);
    a[4] = f.ftwx;
    std::memcpy(&a[6], &f.last_opcode, 2);
    std::memcpy(&a[8], &f.last_ip, 8);
    std::memcpy(&a[16], &f.last_dp, 8);
    std::memcpy(&a[24], &f.mxcsr, 4);
    std::memcpy(&a[32], f.fpr, sizeof f.fpr);
    std::memcpy(&a[160], f.xmm, sizeof f.xmm);
    return a;
}

kvm_fpu fpu_from(const std::vector<uint8_t>& a) {
    kvm_fpu f{};
    std::memcpy(&f.fcw, &a[0], 2);
    std::memcpy(&f.fsw, &a[2], 2);
    f.ftwx = a[4];
    std::memcpy(&f.last_opcode, &a[6], 2);
    std::memcpy(&f.last_ip, &a[8], 8);
    std::memcpy(&f.last_dp, &a[16], 8);
    std::memcpy(&f.mxcsr, &a[24], 4);
    std::memcpy(f.fpr, &a[32], sizeof f.fpr);
    std::memcpy(f.xmm, &a[160], sizeof f.xmm);
    return f;
}

}  // namespace

std::vector<uint8_t> Vcpu::get_xsave() const {
    // KVM_GET_XSAVE2 writes the guest's whole area (AMX's is some 11 KiB) and KVM_SET_XSAVE
    // reads as much: one buffer with room for any. Where KVM refuses both (PVM does), the
    // legacy KVM_GET_FPU state is the FXSAVE area: x87 and SSE.
    constexpr size_t kRoom = 16384;
    std::vector<uint8_t> area(kRoom);
    if (::ioctl(fd_.get(), KVM_GET_XSAVE2, area.data()) == 0) return area;
    area.assign(sizeof(kvm_xsave), 0);
    if (::ioctl(fd_.get(), KVM_GET_XSAVE, area.data()) == 0) return area;
    kvm_fpu fpu{};
    check_syscall(::ioctl(fd_.get(), KVM_GET_FPU, &fpu), "KVM_GET_FPU");
    return fxsave_from(fpu);
}

void Vcpu::set_xsave(std::vector<uint8_t>& area) {
    if (area.size() == kFxsaveBytes) {
        const kvm_fpu fpu = fpu_from(area);
        check_syscall(::ioctl(fd_.get(), KVM_SET_FPU, &fpu), "KVM_SET_FPU");
        return;
    }
    check_syscall(::ioctl(fd_.get(), KVM_SET_XSAVE, area.data()), "KVM_SET_XSAVE");
}

void Vcpu::set_sregs(const kvm_sregs& sregs) {
    check_syscall(::ioctl(fd_.get(), KVM_SET_SREGS, &sregs), "KVM_SET_SREGS");
}

bool Vcpu::set_tsc_offset(int64_t offset) {
    kvm_device_attr attr{};
    attr.group = KVM_VCPU_TSC_CTRL;
    attr.attr = KVM_VCPU_TSC_OFFSET;
    attr.addr = reinterpret_cast<uint64_t>(&offset);
    if (::ioctl(fd_.get(), KVM_HAS_DEVICE_ATTR, &attr) != 0) return false;
    return ::ioctl(fd_.get(), KVM_SET_DEVICE_ATTR, &attr) == 0;
}

uint32_t Vcpu::tsc_khz() const {
    int rc = ::ioctl(fd_.get(), KVM_GET_TSC_KHZ, 0);
    return rc > 0 ? static_cast<uint32_t>(rc) : 0;
}

void Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    std::vector<uint8_t> buf(sizeof(CpuidHeader) + entries.size() * sizeof(kvm_cpuid_entry2));
    auto* c = reinterpret_cast<CpuidHeader*>(buf.data());
    c->nent = static_cast<uint32_t>(entries.size());
    std::memcpy(buf.data() + sizeof(CpuidHeader), entries.data(),
                entries.size() * sizeof(kvm_cpuid_entry2));
    check_syscall(::ioctl(fd_.get(), kSetCpuid2, c), "KVM_SET_CPUID2");
}

bool Vcpu::clear_in_service(uint8_t vector) {
    kvm_lapic_state lapic{};
    check_syscall(::ioctl(fd_.get(), KVM_GET_LAPIC, &lapic), "KVM_GET_LAPIC");
    // ISR: eight 32-bit registers at APIC offsets 0x100, 0x110, ... 0x170.
    const size_t offset = 0x100 + (vector / 32) * 0x10;
    uint32_t isr;
    std::memcpy(&isr, lapic.regs + offset, sizeof isr);
    const uint32_t bit = 1u << (vector % 32);
    if (!(isr & bit)) return false;
    isr &= ~bit;
    std::memcpy(lapic.regs + offset, &isr, sizeof isr);
    check_syscall(::ioctl(fd_.get(), KVM_SET_LAPIC, &lapic), "KVM_SET_LAPIC");
    return true;
}

namespace {
// The kvm_msrs header with room for one entry.
struct OneMsr {
    MsrsHeader header;
    kvm_msr_entry entry;
};
static_assert(sizeof(OneMsr) == sizeof(MsrsHeader) + sizeof(kvm_msr_entry));
}  // namespace

std::optional<uint64_t> Vcpu::get_msr(uint32_t index) const {
    OneMsr m{};
    m.header.nmsrs = 1;
    m.entry.index = index;
    // KVM_GET_MSRS returns how many it read: 0 when it does not know the MSR.
    if (check_syscall(::ioctl(fd_.get(), kGetMsrs, &m), "KVM_GET_MSRS") != 1) return std::nullopt;
    return m.entry.data;
}

bool Vcpu::set_msr(uint32_t index, uint64_t value) {
    OneMsr m{};
    m.header.nmsrs = 1;
    m.entry.index = index;
    m.entry.data = value;
    return check_syscall(::ioctl(fd_.get(), kSetMsrs, &m), "KVM_SET_MSRS") == 1;
}

bool Vcpu::set_guest_debug(uint32_t control) {
    kvm_guest_debug debug{};
    debug.control = control;
    return ::ioctl(fd_.get(), KVM_SET_GUEST_DEBUG, &debug) == 0;
}

}  // namespace xenolith::kvm
