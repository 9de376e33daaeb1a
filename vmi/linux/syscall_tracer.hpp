// `xn trace DOM --syscalls`: every system call a PVH Linux guest's processes make, taken at
// the kernel's entry through a trampoline (entry_trampoline.hpp), one TraceRecord each with
// the vCPU, CR3, the user RIP the call returns to, and describe_syscall()'s line. The guest
// runs on at once: nothing waits for the reader.
//
// As a ProbeHook it redirects each vCPU's MSR_LSTAR when the vCPU attaches and puts the
// kernel's value back when it detaches. What cannot work (not KVM, not Linux's layout)
// becomes one error record that ends the trace; the guest is left as it was.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hv/domain.hpp"
#include "hv/probe_hook.hpp"
#include "hv/trace_buffer.hpp"
#include "vmi/linux/entry_trampoline.hpp"

namespace xenolith::vmi::linux_guest {

class SyscallTracer final : public hv::ProbeHook {
  public:
    // Throws Error when the domain is not one this can trace (not PVH).
    SyscallTracer(std::shared_ptr<hv::Domain> domain, std::shared_ptr<hv::TraceBuffer> trace);

    void attach(hv::Vcpu& vcpu) override;
    void detach(hv::Vcpu& vcpu) override;
    void hit(hv::Vcpu& vcpu) override;
    void domain_ended() override { trace_->close(); }

  private:
    // The trampoline's address, installing it first if no vCPU has. Throws Error.
    uint64_t trampoline_for(hv::Vcpu& vcpu, uint64_t entry);
    void fail(uint32_t vcpu, const std::string& why);

    std::shared_ptr<hv::Domain> domain_;
    std::shared_ptr<hv::TraceBuffer> trace_;
    std::mutex mutex_;  // the fields below
    std::optional<uint64_t> trampoline_;
    uint64_t entry_ = 0;
    // Per vCPU: the kernel's MSR_LSTAR while redirected (nullopt: not redirected).
    std::vector<std::optional<uint64_t>> saved_entry_;
    bool failed_ = false;
};

}  // namespace xenolith::vmi::linux_guest
