// __HYPERVISOR_memory_op: what RAM the domain has, and where its grant frames sit.
#include "abi/xen.hpp"

#include <vector>

#include "hv/domain.hpp"
#include "hv/hypercall.hpp"
#include "hv/hypervisor.hpp"

namespace xenolith::hv {

namespace {

// The BIOS E820 entry layout that XENMEM_memory_map fills (Xen's public headers leave the
// type to the guest's own e820 definition).
struct [[gnu::packed]] E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};
constexpr uint32_t kE820Ram = 1;

bool is_self(HypercallContext& ctx, domid_t d) { return d == DOMID_SELF || d == ctx.domain.id(); }

long add_to_physmap(HypercallContext& ctx, const xen_add_to_physmap_t& op) {
    if (!is_self(ctx, op.domid))
        return ctx.domain.hypervisor().find(op.domid) ? -XEN_EPERM : -XEN_ESRCH;
    switch (op.space) {
        // Guest page gpfn becomes grant frame idx (auto-translated: frame = guest pfn).
        case XENMAPSPACE_grant_table: return ctx.domain.grant_table().place_frame(op.idx, op.gpfn);
        case XENMAPSPACE_shared_info:
            // A PVH guest places shared_info in its physmap; a PV guest's is where its
            // builder put it (start_info) and cannot move.
            if (!ctx.domain.is_pvh()) return -XEN_ENOSYS;
            if (op.idx != 0) return -XEN_EINVAL;
            return ctx.domain.map_shared_info(op.gpfn);
        case XENMAPSPACE_gmfn:
        case XENMAPSPACE_gmfn_range: return -XEN_ENOSYS;  // not offered (yet)
        default: return -XEN_EINVAL;
    }
}

}  // namespace

long do_memory_op(HypercallContext& ctx, const HypercallArgs& a) {
    // Xen keeps a preemption continuation in cmd's upper bits; guests pass plain commands.
    const uint64_t cmd = a[0], arg = a[1];
    switch (cmd) {
        case XENMEM_current_reservation:
        case XENMEM_maximum_reservation: {
            auto dom = ctx.guest.read<domid_t>(arg);
            if (!dom) return -XEN_EFAULT;
            if (!is_self(ctx, *dom)) return -XEN_EPERM;
            return static_cast<long>(ctx.domain.memory().nr_pages());
        }
        case XENMEM_maximum_ram_page: return static_cast<long>(ctx.domain.memory().nr_pages() - 1);
        case XENMEM_memory_map: {
            auto map = ctx.guest.read<xen_memory_map>(arg);
            if (!map) return -XEN_EFAULT;
            std::vector<E820Entry> entries;
            for (const auto& e : ctx.domain.memory_map()) entries.push_back({e.addr, e.size, e.type});
            if (entries.empty()) entries.push_back({0, ctx.domain.memory().size(), kE820Ram});
            // As Xen: a buffer too small for the whole map is refused, not filled in part.
            if (map->nr_entries < entries.size()) return -XEN_EINVAL;
            uint64_t buffer = reinterpret_cast<uint64_t>(map->buffer.p);
            if (!ctx.guest.copy_to(buffer, {reinterpret_cast<const uint8_t*>(entries.data()),
                                            entries.size() * sizeof(E820Entry)}))
                return -XEN_EFAULT;
            map->nr_entries = static_cast<unsigned>(entries.size());
            return ctx.guest.write(arg, *map) ? 0 : -XEN_EFAULT;
        }
        case XENMEM_add_to_physmap: {
            auto op = ctx.guest.read<xen_add_to_physmap_t>(arg);
            if (!op) return -XEN_EFAULT;
            return add_to_physmap(ctx, *op);
        }
        default: return -XEN_ENOSYS;
    }
}

}  // namespace xenolith::hv
