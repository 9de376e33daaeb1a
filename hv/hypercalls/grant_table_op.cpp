// __HYPERVISOR_grant_table_op(cmd, uop, count): the guest's side of grant tables (v1).
//
// Guests in this model share by copying: GNTTABOP_copy moves bytes between a grant of any
// domain and a frame of the caller. Mapping foreign grants is for host-side backends
// (GrantTable::map); GNTTABOP_map_grant_ref and friends answer -XEN_ENOSYS.
#include "abi/xen.hpp"

#include <cstddef>
#include <cstring>
#include <memory>

#include "hv/domain.hpp"
#include "hv/grant_table.hpp"
#include "hv/hypercall.hpp"
#include "hv/hypervisor.hpp"

namespace xenolith::hv {

namespace {

// Bounds the work one exit can demand (Xen would preempt instead); Linux's netback
// batches a few hundred segments at most.
constexpr uint64_t kMaxGrantCopies = 1024;
// Xen keeps a continuation argument above these bits; a guest passes plain commands.
constexpr uint64_t kCmdMask = (1u << 12) - 1;

// The domain `dom` names for a table query: the caller itself, another domain (which an
// unprivileged guest may not inspect) or none.
struct Target {
    std::shared_ptr<Domain> domain;
    int16_t status = GNTST_okay;
};

Target lookup(HypercallContext& ctx, domid_t dom, bool self_only) {
    if (dom == DOMID_SELF) dom = ctx.domain.id();
    auto d = ctx.domain.hypervisor().find(dom);
    if (!d || d->state() == DomainState::Dying) return {nullptr, GNTST_bad_domain};
    if (self_only && d.get() != &ctx.domain) return {nullptr, GNTST_permission_denied};
    return {std::move(d), GNTST_okay};
}

template <typename T>
bool write_status(HypercallContext& ctx, uint64_t va, const T& op) {
    return ctx.guest.write(va + offsetof(T, status), op.status);
}

long setup_table(HypercallContext& ctx, uint64_t va, uint64_t count) {
    if (count != 1) return -XEN_EINVAL;
    auto op = ctx.guest.read<gnttab_setup_table_t>(va);
    if (!op) return -XEN_EFAULT;
    Target t = lookup(ctx, op->dom, true);
    op->status = t.status;
    if (t.domain) {
        GrantTable& table = t.domain->grant_table();
        // Frames are guest pages: the table cannot grow by itself beyond the frames placed
        // (by the builder or XENMEM_add_to_physmap).
        if (op->nr_frames > table.max_frames() || op->nr_frames > table.nr_frames()) {
            op->status = GNTST_general_error;
        } else {
            auto frames = table.frame_list(op->nr_frames);
            uint64_t list = reinterpret_cast<uint64_t>(op->frame_list.p);
            for (uint32_t i = 0; i < frames.size(); ++i) {
                if (!ctx.guest.write(list + i * sizeof(xen_pfn_t), frames[i])) {
                    op->status = GNTST_bad_virt_addr;
                    break;
                }
            }
        }
    }
    return write_status(ctx, va, *op) ? 0 : -XEN_EFAULT;
}

long query_size(HypercallContext& ctx, uint64_t va, uint64_t count) {
    if (count != 1) return -XEN_EINVAL;
    auto op = ctx.guest.read<gnttab_query_size_t>(va);
    if (!op) return -XEN_EFAULT;
    Target t = lookup(ctx, op->dom, true);
    op->status = t.status;
    if (t.domain) {
        op->nr_frames = t.domain->grant_table().nr_frames();
        op->max_nr_frames = t.domain->grant_table().max_frames();
    }
    return ctx.guest.write(va, *op) ? 0 : -XEN_EFAULT;
}

long set_version(HypercallContext& ctx, uint64_t va) {
    auto op = ctx.guest.read<gnttab_set_version_t>(va);
    if (!op) return -XEN_EFAULT;
    // As Xen built with gnttab=max-ver:1: v2 is as unknown as before set_version existed.
    long rc = op->version == 1 ? 0 : op->version == 2 ? -XEN_ENOSYS : -XEN_EINVAL;
    op->version = 1;  // the version in force, written back whatever the answer
    return ctx.guest.write(va, *op) ? rc : -XEN_EFAULT;
}

long get_version(HypercallContext& ctx, uint64_t va) {
    auto op = ctx.guest.read<gnttab_get_version_t>(va);
    if (!op) return -XEN_EFAULT;
    Target t = lookup(ctx, op->dom, true);
    if (t.status == GNTST_bad_domain) return -XEN_ESRCH;
    if (t.status != GNTST_okay) return -XEN_EPERM;
    op->version = 1;
    return ctx.guest.write(va + offsetof(gnttab_get_version_t, version), op->version) ? 0
                                                                                      : -XEN_EFAULT;
}

long get_status_frames(HypercallContext& ctx, uint64_t va, uint64_t count) {
    if (count != 1) return -XEN_EINVAL;
    auto op = ctx.guest.read<gnttab_get_status_frames_t>(va);
    if (!op) return -XEN_EFAULT;
    Target t = lookup(ctx, op->dom, true);
    op->status = t.status;
    // A v1 table has no status frames: asking for any is an error, asking for none is not.
    if (t.domain && op->nr_frames > 0) op->status = GNTST_general_error;
    return write_status(ctx, va, *op) ? 0 : -XEN_EFAULT;
}

// --- GNTTABOP_copy ----------------------------------------------------------------------

using CopyPtr = gnttab_copy_t::gnttab_copy_ptr;

// One side of a copy: a pinned grant of some domain, or a frame of the caller.
struct CopySide {
    std::shared_ptr<Domain> domain;  // keeps the granting domain alive while pinned
    GrantMapping grant;
    uint8_t* page = nullptr;
};

// Xen's order: both domains first, then the source, then the destination.
int16_t find_domain(HypercallContext& ctx, const CopyPtr& ptr, bool is_gref, CopySide& side) {
    // Only the caller's own frames may be named directly, and only as DOMID_SELF (Xen).
    if (!is_gref && ptr.domid != DOMID_SELF) return GNTST_permission_denied;
    domid_t dom = ptr.domid == DOMID_SELF ? ctx.domain.id() : ptr.domid;
    side.domain = ctx.domain.hypervisor().find(dom);
    if (!side.domain || side.domain->state() == DomainState::Dying) return GNTST_bad_domain;
    return GNTST_okay;
}

int16_t claim(HypercallContext& ctx, const CopyPtr& ptr, bool is_gref, bool write, CopySide& side) {
    if (is_gref) {
        side.grant = side.domain->grant_table().map(ptr.u.ref, ctx.domain.id(), !write);
        if (!side.grant) return side.grant.status();
        // A read pin gives a const view; the page itself is ordinary guest RAM.
        side.page = const_cast<uint8_t*>(side.grant.page().data());
        return side.page ? GNTST_okay : GNTST_bad_domain;
    }
    const GuestMemory& mem = side.domain->memory();
    if (ptr.u.gmfn >= mem.nr_pages()) return GNTST_bad_page;
    side.page = mem.span(ptr.u.gmfn << kPageShift, kPageSize).data();
    return GNTST_okay;
}

int16_t copy_one(HypercallContext& ctx, const gnttab_copy_t& op) {
    if (op.len == 0) return GNTST_okay;
    const bool src_gref = op.flags & GNTCOPY_source_gref, dst_gref = op.flags & GNTCOPY_dest_gref;
    CopySide src, dst;
    if (int16_t st = find_domain(ctx, op.source, src_gref, src)) return st;
    if (int16_t st = find_domain(ctx, op.dest, dst_gref, dst)) return st;
    if (int16_t st = claim(ctx, op.source, src_gref, false, src)) return st;
    if (int16_t st = claim(ctx, op.dest, dst_gref, true, dst)) return st;
    if (uint32_t{op.source.offset} + op.len > kPageSize ||
        uint32_t{op.dest.offset} + op.len > kPageSize)
        return GNTST_bad_copy_arg;
    // Source and destination may be the same page of the same domain.
    std::memmove(dst.page + op.dest.offset, src.page + op.source.offset, op.len);
    // After the write, for live migration (a page taken before it would be sent stale); a
    // granted destination is marked as its pin drops.
    if (!dst_gref)
        dst.domain->memory().mark_written(uint64_t{op.dest.u.gmfn} << kPageShift, kPageSize);
    return GNTST_okay;
}  // the pins drop here: GTF_reading/GTF_writing are cleared as the copy ends

long copy(HypercallContext& ctx, uint64_t va, uint64_t count) {
    if (count > kMaxGrantCopies) return -XEN_EINVAL;
    for (uint64_t i = 0; i < count; ++i) {
        uint64_t at = va + i * sizeof(gnttab_copy_t);
        auto op = ctx.guest.read<gnttab_copy_t>(at);
        if (!op) return -XEN_EFAULT;
        op->status = copy_one(ctx, *op);
        if (!write_status(ctx, at, *op)) return -XEN_EFAULT;
    }
    return 0;
}

}  // namespace

long do_grant_table_op(HypercallContext& ctx, const HypercallArgs& a) {
    const uint64_t cmd = a[0], uop = a[1], count = a[2];
    if (cmd > kCmdMask || count > INT32_MAX) return -XEN_EINVAL;
    switch (cmd) {
        case GNTTABOP_setup_table:
            return setup_table(ctx, uop, count);
        case GNTTABOP_query_size:
            return query_size(ctx, uop, count);
        case GNTTABOP_copy:
            return copy(ctx, uop, count);
        case GNTTABOP_set_version:
            return set_version(ctx, uop);
        case GNTTABOP_get_version:
            return get_version(ctx, uop);
        case GNTTABOP_get_status_frames:
            return get_status_frames(ctx, uop, count);
        // Guests copy; mapping foreign pages is the host backends' (GrantTable::map).
        case GNTTABOP_map_grant_ref:
        case GNTTABOP_unmap_grant_ref:
        case GNTTABOP_unmap_and_replace:
        default:
            return -XEN_ENOSYS;  // transfer, swap_grant_ref, dump_table, cache_flush
    }
}

}  // namespace xenolith::hv
