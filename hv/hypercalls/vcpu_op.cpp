// __HYPERVISOR_vcpu_op: bringing vCPUs up and down, their timers, runstate and vcpu_info.
#include "abi/xen.hpp"

#include <memory>

#include "hv/domain.hpp"
#include "hv/hypercall.hpp"
#include "hv/pvclock.hpp"

namespace xenolith::hv {

namespace {

long initialise(HypercallContext& ctx, Vcpu& target, uint64_t arg) {
    // vcpu_guest_context is ~5 KiB: keep it off the vCPU thread's stack.
    auto gc = std::make_unique<vcpu_guest_context_t>();
    if (!ctx.guest.copy_from({reinterpret_cast<uint8_t*>(gc.get()), sizeof *gc}, arg))
        return -XEN_EFAULT;
    VcpuContext c;
    const auto& u = gc->user_regs;
    c.boot.regs = {.rax = u.rax,
                   .rbx = u.rbx,
                   .rcx = u.rcx,
                   .rdx = u.rdx,
                   .rsi = u.rsi,
                   .rdi = u.rdi,
                   .rbp = u.rbp,
                   .rsp = u.rsp,
                   .r8 = u.r8,
                   .r9 = u.r9,
                   .r10 = u.r10,
                   .r11 = u.r11,
                   .r12 = u.r12,
                   .r13 = u.r13,
                   .r14 = u.r14,
                   .r15 = u.r15,
                   .rip = u.rip,
                   .rflags = 0};
    // ctrlreg[3] holds xen_pfn_to_cr3(pfn); 0 means "the boot page tables".
    uint64_t pfn = xen_cr3_to_pfn(gc->ctrlreg[3]);
    if (pfn > (UINT64_MAX >> kPageShift)) return -XEN_EINVAL;
    c.boot.cr3 = pfn ? pfn << kPageShift : ctx.domain.boot_cr3();
    c.boot.fs_base = gc->fs_base;
    c.boot.gs_base = gc->gs_base_kernel;
    c.boot.tss_base = ctx.domain.boot_tss();
    c.event_callback = gc->event_callback_eip;
    return target.initialise(c);
}

}  // namespace

long do_vcpu_op(HypercallContext& ctx, const HypercallArgs& a) {
    const uint64_t cmd = a[0], vcpuid = a[1], arg = a[2];
    if (vcpuid >= ctx.domain.nr_vcpus()) return -XEN_ENOENT;
    Vcpu& target = ctx.domain.vcpu(static_cast<uint32_t>(vcpuid));
    const bool self = &target == &ctx.vcpu;
    switch (cmd) {
        case VCPUOP_initialise:
            // A PVH guest starts its vCPUs with INIT/SIPI through the LAPIC; Xen's HVM
            // form of this call (vcpu_hvm_context) is not offered.
            if (ctx.domain.is_pvh()) return -XEN_ENOSYS;
            return initialise(ctx, target, arg);
        case VCPUOP_up:
            return target.up();
        case VCPUOP_down:
            return target.down();
        case VCPUOP_is_up:
            return target.is_up() ? 1 : 0;
        case VCPUOP_get_runstate_info: {
            vcpu_runstate_info_t info{};
            target.get_runstate(info);
            return ctx.guest.write(arg, info) ? 0 : -XEN_EFAULT;
        }
        case VCPUOP_set_singleshot_timer: {
            if (!self) return -XEN_EINVAL;  // as Xen: only a vCPU's own timer
            auto t = ctx.guest.read<vcpu_set_singleshot_timer_t>(arg);
            if (!t) return -XEN_EFAULT;
            if (t->flags & ~static_cast<uint32_t>(VCPU_SSHOTTMR_future)) return -XEN_EINVAL;
            if ((t->flags & VCPU_SSHOTTMR_future) &&
                t->timeout_abs_ns < ctx.vcpu.domain().guest_time_ns())
                return -XEN_ETIME;
            ctx.vcpu.set_timer(t->timeout_abs_ns);
            return 0;
        }
        case VCPUOP_stop_singleshot_timer:
            if (!self) return -XEN_EINVAL;
            ctx.vcpu.set_timer(0);
            return 0;
        case VCPUOP_register_vcpu_info: {
            // The target's thread reads its vcpu_info location; move it only while that
            // thread cannot be running (itself, or a vCPU not yet up).
            if (!self && target.is_up()) return -XEN_EBUSY;
            auto r = ctx.guest.read<vcpu_register_vcpu_info_t>(arg);
            if (!r) return -XEN_EFAULT;
            if (r->rsvd) return -XEN_EINVAL;
            return target.register_vcpu_info(r->mfn, r->offset);
        }
        case VCPUOP_register_runstate_memory_area: {
            // Only a vCPU's own: the address is translated through its page tables.
            if (!self) return -XEN_EINVAL;
            auto area = ctx.guest.read<vcpu_register_runstate_memory_area_t>(arg);
            if (!area) return -XEN_EFAULT;
            return ctx.vcpu.register_runstate_area(ctx.guest,
                                                   reinterpret_cast<uint64_t>(area->addr.v));
        }
        // There is no periodic timer (Xen's default 100 Hz tick is off from the start), so
        // stopping it succeeds: that tells Linux to use the single-shot timer.
        case VCPUOP_stop_periodic_timer:
            return self ? 0 : -XEN_EINVAL;
        default:
            return -XEN_ENOSYS;
    }
}

}  // namespace xenolith::hv
