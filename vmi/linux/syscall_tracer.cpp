#include "vmi/linux/syscall_tracer.hpp"

#include "base/error.hpp"
#include "boot/pvh_layout.hpp"
#include "hv/pvclock.hpp"
#include "hv/vcpu.hpp"
#include "vmi/linux/syscall_describe.hpp"

namespace xenolith::vmi::linux_guest {

namespace {

// Architectural MSRs (x86, not Xen ABI): SYSCALL's 64-bit entry point.
constexpr uint32_t kMsrLstar = 0xc0000082;
constexpr uint64_t kCr4La57 = 1u << 12;

// The calling process's memory, through its page tables (the CR3 in force at the entry).
ReadUser user_memory(const hv::GuestAccess& guest) {
    return [&guest](uint64_t va, std::span<uint8_t> out) { return guest.copy_from(out, va); };
}

}  // namespace

SyscallTracer::SyscallTracer(std::shared_ptr<hv::Domain> domain,
                             std::shared_ptr<hv::TraceBuffer> trace)
    : domain_(std::move(domain)), trace_(std::move(trace)) {
    if (!domain_->is_pvh())
        throw Error(
            "system calls can be traced only in a PVH guest (this domain is PV: its "
            "kernel's calls are hypercalls; trace those with --hypercalls)");
    saved_entry_.resize(domain_->nr_vcpus());
}

void SyscallTracer::attach(hv::Vcpu& vcpu) {
    try {
        std::optional<uint64_t> entry = vcpu.debug_read_msr(kMsrLstar);
        if (!entry) throw Error("the platform gives no access to the vCPU's MSR_LSTAR");
        const uint64_t target = trampoline_for(vcpu, *entry);
        if (*entry == target) return;
        if (!vcpu.debug_write_msr(kMsrLstar, target))
            throw Error("the platform refused to set MSR_LSTAR");
        std::lock_guard lock(mutex_);
        saved_entry_.at(vcpu.id()) = *entry;
    } catch (const std::exception& e) {
        fail(vcpu.id(), e.what());
    }
}

uint64_t SyscallTracer::trampoline_for(hv::Vcpu& vcpu, uint64_t entry) {
    std::lock_guard lock(mutex_);
    if (failed_) throw Error("the trace has already failed");
    if (trampoline_) {
        if (entry != *trampoline_ && entry != entry_)
            throw Error("vCPU " + std::to_string(vcpu.id()) +
                        "'s system-call entry differs from the other vCPUs'");
        return *trampoline_;
    }
    const platform::ControlRegisters cr = vcpu.debug_control_registers();
    const TrampolinePages pages{boot::kPvhProbeCodePaddr, boot::kPvhProbeTablePaddr};
    const bool la57 = (cr.cr4 & kCr4La57) != 0;
    trampoline_ = install_entry_trampoline(domain_->memory(), cr.cr3, la57, entry, pages);
    entry_ = entry;
    return *trampoline_;
}

void SyscallTracer::detach(hv::Vcpu& vcpu) {
    std::optional<uint64_t> saved;
    {
        std::lock_guard lock(mutex_);
        saved = std::exchange(saved_entry_.at(vcpu.id()), std::nullopt);
    }
    if (saved && !vcpu.debug_write_msr(kMsrLstar, *saved))
        fail(vcpu.id(), "the platform refused to restore MSR_LSTAR");
}

void SyscallTracer::hit(hv::Vcpu& vcpu) {
    const platform::Registers& r = vcpu.debug_registers();
    const platform::ControlRegisters cr = vcpu.debug_control_registers();
    const hv::GuestAccess guest = vcpu.debug_guest();
    const SyscallEntry call{r.rax, {r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9}};
    hv::TraceRecord record;
    record.time_ns = hv::TimeSource::system_time_ns();
    record.vcpu = vcpu.id();
    record.nr = r.rax;
    record.cr3 = cr.cr3;
    record.rip = r.rcx;  // SYSCALL leaves the return address in RCX
    record.text = describe_syscall(call, user_memory(guest));
    trace_->record(std::move(record));
}

void SyscallTracer::fail(uint32_t vcpu, const std::string& why) {
    {
        std::lock_guard lock(mutex_);
        if (failed_) return;
        failed_ = true;
    }
    hv::TraceRecord record;
    record.vcpu = vcpu;
    record.error = true;
    record.text = "cannot trace system calls: " + why;
    trace_->record(std::move(record));
    trace_->close();
}

}  // namespace xenolith::vmi::linux_guest
