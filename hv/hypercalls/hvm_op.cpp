// __HYPERVISOR_hvm_op: what a PVH guest asks of its HVM platform. The parameters tell it
// where its xenstore and console rings are (set by the builder, read-only to the guest) and
// let it choose how event upcalls arrive: an interrupt vector for the whole domain
// (HVM_PARAM_CALLBACK_IRQ of type vector) or per vCPU (HVMOP_set_evtchn_upcall_vector).
// There is no emulated PCI or ISA here, so the GSI and INTx callback types are refused.
#include "abi/xen.hpp"

#include "hv/domain.hpp"
#include "hv/hypercall.hpp"
#include "hv/hypervisor.hpp"

namespace xenolith::hv {

namespace {

// Vectors below 0x10 are the CPU's exceptions (and reserved); Xen refuses them too.
constexpr uint32_t kMinVector = 0x10;

bool is_self(HypercallContext& ctx, domid_t d) { return d == DOMID_SELF || d == ctx.domain.id(); }

// Parameters the toolstack sets and the guest may only read.
bool toolstack_only(uint32_t index) {
    switch (index) {
        case HVM_PARAM_STORE_PFN:
        case HVM_PARAM_STORE_EVTCHN:
        case HVM_PARAM_CONSOLE_PFN:
        case HVM_PARAM_CONSOLE_EVTCHN: return true;
        default: return false;
    }
}

long set_param(HypercallContext& ctx, const xen_hvm_param_t& p) {
    if (p.index >= HVM_NR_PARAMS) return -XEN_EINVAL;
    if (toolstack_only(p.index)) return -XEN_EPERM;
    if (p.index == HVM_PARAM_CALLBACK_IRQ) {
        // val[63:56] is the type (HVM_PARAM_CALLBACK_IRQ_TYPE_MASK); for a vector,
        // val[7:0] the vector.
        const uint64_t type = (p.value & HVM_PARAM_CALLBACK_IRQ_TYPE_MASK) >> 56;
        if (p.value == 0) {
            ctx.domain.set_callback_vector(0);  // upcalls off
        } else if (type == HVM_PARAM_CALLBACK_TYPE_VECTOR) {
            const uint64_t vector = p.value & ~HVM_PARAM_CALLBACK_IRQ_TYPE_MASK;
            if (vector < kMinVector || vector > 0xff) return -XEN_EINVAL;
            ctx.domain.set_callback_vector(static_cast<uint8_t>(vector));
        } else if (type == HVM_PARAM_CALLBACK_TYPE_GSI || type == HVM_PARAM_CALLBACK_TYPE_PCI_INTX) {
            // Accepted and recorded, as Xen does, but there is no IOAPIC or PCI here to
            // raise them: only vectors deliver. Linux sets GSI 1 right after choosing
            // per-vCPU upcall vectors, to tell the toolstack it has PV drivers.
            ctx.domain.set_callback_vector(0);
        } else {
            return -XEN_EINVAL;
        }
    }
    ctx.domain.set_hvm_param(p.index, p.value);
    return 0;
}

}  // namespace

long do_hvm_op(HypercallContext& ctx, const HypercallArgs& a) {
    if (!ctx.domain.is_pvh()) return -XEN_ENOSYS;  // a PV domain has no HVM platform
    const uint64_t op = a[0], arg = a[1];
    switch (op) {
        case HVMOP_set_param:
        case HVMOP_get_param: {
            auto p = ctx.guest.read<xen_hvm_param_t>(arg);
            if (!p) return -XEN_EFAULT;
            if (!is_self(ctx, p->domid))
                return ctx.domain.hypervisor().find(p->domid) ? -XEN_EPERM : -XEN_ESRCH;
            if (op == HVMOP_set_param) return set_param(ctx, *p);
            if (p->index >= HVM_NR_PARAMS) return -XEN_EINVAL;
            p->value = ctx.domain.hvm_param(p->index);
            return ctx.guest.write(arg, *p) ? 0 : -XEN_EFAULT;
        }
        case HVMOP_set_evtchn_upcall_vector: {
            auto u = ctx.guest.read<xen_hvm_evtchn_upcall_vector_t>(arg);
            if (!u) return -XEN_EFAULT;
            if (u->vector < kMinVector) return -XEN_EINVAL;
            if (u->vcpu >= ctx.domain.nr_vcpus()) return -XEN_ENOENT;
            ctx.domain.vcpu(u->vcpu).set_upcall_vector(u->vector);
            return 0;
        }
        default: return -XEN_ENOSYS;  // pagetable_dying, get_time, ...: not offered
    }
}

}  // namespace xenolith::hv
