// __HYPERVISOR_multicall: a batch of hypercalls for the price of one exit.
#include "abi/xen.hpp"

#include "hv/domain.hpp"
#include "hv/hypercall.hpp"

namespace xenolith::hv {

namespace {
// Bounds the work one exit can demand; Linux batches far fewer.
constexpr uint64_t kMaxMulticallEntries = 1024;
}  // namespace

long do_multicall(HypercallContext& ctx, const HypercallArgs& a) {
    const uint64_t entries = a[0], count = a[1];
    if (ctx.in_multicall) return -XEN_EINVAL;
    if (count > kMaxMulticallEntries) return -XEN_EINVAL;
    HypercallContext inner{ctx.domain, ctx.vcpu, ctx.guest, true};
    for (uint64_t i = 0; i < count; ++i) {
        uint64_t va = entries + i * sizeof(multicall_entry_t);
        auto e = ctx.guest.read<multicall_entry_t>(va);
        if (!e) return -XEN_EFAULT;
        HypercallArgs args{e->args[0], e->args[1], e->args[2], e->args[3], e->args[4]};
        e->result = static_cast<xen_ulong_t>(
            e->op == __HYPERVISOR_multicall ? -XEN_EINVAL : dispatch_hypercall(inner, e->op, args));
        if (!ctx.guest.write(va, *e)) return -XEN_EFAULT;
        if (ctx.domain.stopping()) break;  // a shutdown in the batch ends it
    }
    return 0;
}

}  // namespace xenolith::hv
