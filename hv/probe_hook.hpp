// A probe that vmi/ places in the guest (vmi/linux/syscall_tracer.hpp: a trampoline on a
// Linux guest's system-call entry), as hv/ sees it. The domain holds at most one. Each
// vCPU attaches to the domain's hook on its own thread before it next enters the guest,
// detaches from one the domain has dropped, and hands the attached one every Probe exit
// (platform::DebugExit::Probe). Attaching is per vCPU because what a probe changes (an MSR)
// belongs to the vCPU's thread.
#pragma once

namespace xenolith::hv {

class Vcpu;

class ProbeHook {
  public:
    virtual ~ProbeHook() = default;
    // On the vCPU's thread, between runs: hv::Vcpu's debug_* calls work here.
    virtual void attach(Vcpu& vcpu) = 0;
    virtual void detach(Vcpu& vcpu) = 0;
    virtual void hit(Vcpu& vcpu) = 0;
    // The domain's last vCPU thread has left: no more hits will come. Any thread.
    virtual void domain_ended() = 0;
};

}  // namespace xenolith::hv
