// The pre-3.2 forms of sched_op and event_channel_op. Guests built against an old
// __XEN_INTERFACE_VERSION__ (the headers' default) still call these numbers, and Xen still
// answers them, so Xenolith does too by translating to the current handlers.
#include <cstddef>

#include "abi/xen.hpp"
#include "hv/domain.hpp"
#include "hv/hypercall.hpp"

namespace xenolith::hv {

long do_sched_op_compat(HypercallContext& ctx, const HypercallArgs& a) {
    const uint64_t cmd = a[0], arg = a[1];
    switch (cmd) {
        case SCHEDOP_yield:
        case SCHEDOP_block: return do_sched_op(ctx, {cmd, 0, 0, 0, 0});
        case SCHEDOP_shutdown:  // the reason itself, not a pointer to sched_shutdown
            if (arg > SHUTDOWN_MAX) return -XEN_EINVAL;
            ctx.domain.shutdown(static_cast<unsigned>(arg));
            return 0;
        default: return -XEN_ENOSYS;
    }
}

long do_event_channel_op_compat(HypercallContext& ctx, const HypercallArgs& a) {
    // struct evtchn_op { uint32_t cmd; union u; }: the union is the current op's argument.
    auto cmd = ctx.guest.read<uint32_t>(a[0]);
    if (!cmd) return -XEN_EFAULT;
    return do_event_channel_op(ctx, {*cmd, a[0] + offsetof(evtchn_op_t, u), 0, 0, 0});
}

}  // namespace xenolith::hv
