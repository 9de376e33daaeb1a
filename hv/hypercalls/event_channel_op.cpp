// __HYPERVISOR_event_channel_op: the guest's side of the event channel table.
#include "abi/xen.hpp"

#include "hv/domain.hpp"
#include "hv/hypercall.hpp"

namespace xenolith::hv {

namespace {

// Reads the op's argument, runs `f` on it, writes it back when f returns >= 0 and `out`.
template <typename T, typename F>
long with_arg(HypercallContext& ctx, uint64_t va, bool out, F&& f) {
    auto arg = ctx.guest.read<T>(va);
    if (!arg) return -XEN_EFAULT;
    long rc = f(*arg);
    if (rc >= 0 && out && !ctx.guest.write(va, *arg)) return -XEN_EFAULT;
    return rc;
}

}  // namespace

long do_event_channel_op(HypercallContext& ctx, const HypercallArgs& a) {
    const uint64_t cmd = a[0], va = a[1];
    EventChannelTable& table = ctx.domain.evtchn();
    switch (cmd) {
        case EVTCHNOP_alloc_unbound:
            return with_arg<evtchn_alloc_unbound_t>(ctx, va, true, [&](auto& op) -> long {
                if (op.dom != DOMID_SELF && op.dom != ctx.domain.id()) return -XEN_EPERM;
                long port = table.alloc_unbound(op.remote_dom);
                if (port < 0) return port;
                op.port = static_cast<evtchn_port_t>(port);
                return 0;
            });
        case EVTCHNOP_bind_interdomain:
            return with_arg<evtchn_bind_interdomain_t>(ctx, va, true, [&](auto& op) -> long {
                long port = table.bind_interdomain(op.remote_dom, op.remote_port);
                if (port < 0) return port;
                op.local_port = static_cast<evtchn_port_t>(port);
                return 0;
            });
        case EVTCHNOP_bind_virq:
            return with_arg<evtchn_bind_virq_t>(ctx, va, true, [&](auto& op) -> long {
                long port = table.bind_virq(op.virq, op.vcpu);
                if (port < 0) return port;
                op.port = static_cast<evtchn_port_t>(port);
                return 0;
            });
        case EVTCHNOP_bind_ipi:
            return with_arg<evtchn_bind_ipi_t>(ctx, va, true, [&](auto& op) -> long {
                long port = table.bind_ipi(op.vcpu);
                if (port < 0) return port;
                op.port = static_cast<evtchn_port_t>(port);
                return 0;
            });
        case EVTCHNOP_close:
            return with_arg<evtchn_close_t>(ctx, va, false, [&](auto& op) { return table.close(op.port); });
        case EVTCHNOP_send:
            return with_arg<evtchn_send_t>(ctx, va, false, [&](auto& op) { return table.send(op.port); });
        case EVTCHNOP_status:
            return with_arg<evtchn_status_t>(ctx, va, true, [&](auto& op) { return table.status(op); });
        case EVTCHNOP_unmask:
            return with_arg<evtchn_unmask_t>(ctx, va, false, [&](auto& op) { return table.unmask(op.port); });
        case EVTCHNOP_bind_vcpu:
            return with_arg<evtchn_bind_vcpu_t>(ctx, va, false,
                                                [&](auto& op) { return table.bind_vcpu(op.port, op.vcpu); });
        case EVTCHNOP_bind_pirq: return -XEN_EPERM;  // no physical IRQs for guests
        default: return -XEN_ENOSYS;  // FIFO ABI (init_control...) is not offered
    }
}

}  // namespace xenolith::hv
