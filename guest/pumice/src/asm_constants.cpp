// Never linked: compiled to assembly text at build time so that the "->NAME value"
// markers below become asm_constants.h (see pumice/CMakeLists.txt). Every value comes
// from the Xen headers or from Pumice's own structs, so nothing is typed twice.
#include <pumice/cpu.hpp>
#include <pumice/xen.hpp>

#define DEFINE(name, value) asm volatile("\n.ascii \"->" #name " %c0\"" ::"i"(value))

void pumice_asm_constants() {
    DEFINE(CPU_SELF, offsetof(pumice::Cpu, self));
    DEFINE(CPU_VCPU, offsetof(pumice::Cpu, vcpu));
    DEFINE(VCPU_INFO_UPCALL_PENDING, offsetof(vcpu_info, evtchn_upcall_pending));
    DEFINE(VCPU_INFO_UPCALL_MASK, offsetof(vcpu_info, evtchn_upcall_mask));
    // For the bare `first` image.
    DEFINE(XENVER_version, XENVER_version);
    DEFINE(SCHEDOP_shutdown, SCHEDOP_shutdown);
    DEFINE(SHUTDOWN_poweroff, SHUTDOWN_poweroff);
    DEFINE(SIZEOF_SCHED_SHUTDOWN, sizeof(sched_shutdown_t));
}
