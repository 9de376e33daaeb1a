// The introspection core's hook into a vCPU's run loop (vmi/ implements it; hv/ knows only
// this). A debugger stops a vCPU by asking (hv::Vcpu::request_debug_stop) or by a breakpoint
// or a finished single-step; the vCPU's own thread then calls stopped() and stays in it
// until the debugger lets it go. Meanwhile the debugger works on that thread through the
// hv::Vcpu::debug_* calls, since a vCPU's registers belong to the thread that runs it.
#pragma once

#include <cstdint>

namespace xenolith::hv {

class Vcpu;

class DebugHook {
  public:
    // Write: the instruction at RIP is about to write to a watched page
    // (platform::Vm::watch_writes); hv::Vcpu::debug_write_address() says where. Unless the
    // hook calls hv::Vcpu::debug_complete_write(false) or debug_crash(), the write happens
    // when the vCPU runs on.
    // Hypercall: the vCPU is about to make one (hv::Vcpu::set_hypercall_stops); it is made,
    // with the arguments the registers then hold, once the debugger lets the vCPU go.
    enum class Reason { Requested, Breakpoint, SingleStep, Write, Hypercall };
    // Whose int3 the guest just executed: the guest's own (it crashes, as on any other
    // exception), one of the debugger's (the vCPU stops), or one the debugger removed while
    // this vCPU was on its way to it (the vCPU runs on from the restored instruction).
    enum class Int3 { Guest, Debugger, Removed };

    virtual ~DebugHook() = default;
    // `address` is guest-virtual: where the int3 sits. On the vCPU's thread.
    virtual Int3 classify_int3(Vcpu& vcpu, uint64_t address) = 0;
    // The vCPU has stopped for the debugger; returns when the debugger lets it run on (or
    // detaches, or the domain is stopping). On the vCPU's thread, holding no lock of hv/.
    virtual void stopped(Vcpu& vcpu, Reason why) = 0;
};

}  // namespace xenolith::hv
