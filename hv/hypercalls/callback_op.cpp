// __HYPERVISOR_callback_op: where the vCPU's event upcalls enter the guest.
#include "abi/xen.hpp"

#include "hv/domain.hpp"
#include "hv/hypercall.hpp"

namespace xenolith::hv {

long do_callback_op(HypercallContext& ctx, const HypercallArgs& a) {
    const uint64_t cmd = a[0], arg = a[1];
    switch (cmd) {
        case CALLBACKOP_register: {
            auto r = ctx.guest.read<callback_register_t>(arg);
            if (!r) return -XEN_EFAULT;
            switch (r->type) {
                case CALLBACKTYPE_event:
                    if (r->address >> 47) return -XEN_EINVAL;  // must be a lower-half address
                    ctx.vcpu.set_event_callback(r->address);
                    return 0;
                // The failsafe callback runs when Xen cannot reload guest segments on return;
                // with no segment reloads in this ABI that never happens, so accepting it
                // is exact.
                case CALLBACKTYPE_failsafe: return 0;
                default: return -XEN_EINVAL;  // syscall/sysenter/NMI: not deliverable here
            }
        }
        case CALLBACKOP_unregister: {
            auto r = ctx.guest.read<callback_unregister_t>(arg);
            if (!r) return -XEN_EFAULT;
            if (r->type == CALLBACKTYPE_event) {
                ctx.vcpu.set_event_callback(0);
                return 0;
            }
            return r->type == CALLBACKTYPE_failsafe ? 0 : -XEN_EINVAL;
        }
        default: return -XEN_ENOSYS;
    }
}

}  // namespace xenolith::hv
