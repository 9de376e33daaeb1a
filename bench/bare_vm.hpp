// The floor for `make bench`: the least a KVM program must do to run PV-style CPL-3 code,
// built on the kvm/ wrappers alone (no hv::Domain, no vCPU thread, no hypercall dispatch).
//
// A BareVm is one VM with RAM in a memfd (as hv::GuestMemory has it), one vCPU, the boot
// page tables and I/O TSS written by boot/'s own helpers, the CPL-3 entry state from
// hv::pv_sregs, and a tiny guest program (bare_vm.cpp) that times itself with RDTSC:
//
//   start = rdtsc
//   repeat RCX times: out %eax(=17, xen_version's number), $XENOLITH_HYPERCALL_PORT
//   *RDI = rdtsc - start
//   out %eax(=0xffffffff), $XENOLITH_HYPERCALL_PORT      (the "done" marker)
//
// or, built with Program::kEventLoop (the floor of interdomain_event_round_trip), RCX rounds
// of a notification round trip through the host kernel:
//
//   start = rdtsc
//   for i = 1..RCX: out %eax(=i), $kFloorEventPort     (bound to an ioeventfd: no exit)
//                   spin (pause) until *(RDI + 8) == i  (the host's answer, a plain store)
//   *RDI = rdtsc - start
//   out %eax(=0xffffffff), $XENOLITH_HYPERCALL_PORT
//
// Everything happens on the calling thread (the event loop's answers come from whoever
// holds answer_slot()).
#pragma once

#include <cstdint>
#include <optional>

#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "platform/kvm/system.hpp"
#include "platform/kvm/vcpu.hpp"
#include "platform/kvm/vm.hpp"

namespace xenolith::bench {

// The value the guest program writes to the port when it has finished its loop.
inline constexpr uint32_t kDoneMarker = 0xffffffff;
// The port the event-loop program notifies: bind it with kvm::IoEventFd (4 bytes, no
// datamatch) before the first run, or the `out` exits and run_to_port_exit throws.
inline constexpr uint16_t kFloorEventPort = 0x59;

enum class Program { kHypercallLoop, kEventLoop };

class BareVm {
  public:
    // KVM_CREATE_VM, RAM (memfd, `memory_bytes`), one vCPU, page tables, TSS, the program,
    // and the CPL-3 entry state with RCX = `exits` (>= 1). Throws xenolith::Error.
    BareVm(const kvm::System& kvm, uint64_t memory_bytes, uint64_t exits,
           Program program = Program::kHypercallLoop);

    const kvm::Vm& vm() const { return *vm_; }
    // kEventLoop: the 8-byte word the guest spins on (host answers round i by storing i).
    uint64_t* answer_slot();

    // KVM_RUN once; throws unless the exit is a 4-byte `out` to the hypercall port.
    // Returns the value written (17 inside the loop, kDoneMarker at the end).
    uint32_t run_to_port_exit();
    // The guest-measured TSC ticks of the whole loop (valid after kDoneMarker).
    uint64_t loop_ticks() const;

  private:
    UniqueFd memfd_;
    Mapping ram_;
    std::optional<kvm::Vm> vm_;
    std::optional<kvm::Vcpu> vcpu_;
};

}  // namespace xenolith::bench
