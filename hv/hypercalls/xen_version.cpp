// __HYPERVISOR_xen_version: which Xen this looks like, and its features.
#include "abi/xen.hpp"

#include <cstring>

#include "abi/version.hpp"
#include "hv/domain.hpp"
#include "hv/hypercall.hpp"

namespace xenolith::hv {

namespace {
template <typename T>
long put(HypercallContext& ctx, uint64_t va, const T& value) {
    return ctx.guest.write(va, value) ? 0 : -XEN_EFAULT;
}

template <size_t N>
void set_string(char (&dst)[N], const char* src) {
    std::memset(dst, 0, N);
    std::strncpy(dst, src, N - 1);
}
}  // namespace

long do_xen_version(HypercallContext& ctx, const HypercallArgs& a) {
    const uint64_t cmd = a[0], arg = a[1];
    switch (cmd) {
        case XENVER_version:
            return (abi::kXenMajor << 16) | abi::kXenMinor;
        case XENVER_extraversion: {
            xen_extraversion_t v;
            set_string(v, abi::kXenExtraVersion);
            return put(ctx, arg, v);
        }
        case XENVER_compile_info: {
            xen_compile_info_t info;
            set_string(info.compiler, __VERSION__);
            set_string(info.compile_by, "xenolith");
            set_string(info.compile_domain, "xenolith");
            set_string(info.compile_date, __DATE__);
            return put(ctx, arg, info);
        }
        case XENVER_capabilities: {
            xen_capabilities_info_t caps;
            set_string(caps, abi::kXenCapabilities);
            return put(ctx, arg, caps);
        }
        case XENVER_changeset: {
            xen_changeset_info_t cs;
            set_string(cs, "xenolith");
            return put(ctx, arg, cs);
        }
        case XENVER_platform_parameters: {
            xen_platform_parameters_t p{};
            p.virt_start = HYPERVISOR_VIRT_START;
            return put(ctx, arg, p);
        }
        case XENVER_get_features: {
            auto info = ctx.guest.read<xen_feature_info_t>(arg);
            if (!info) return -XEN_EFAULT;
            info->submap = 0;
            if (info->submap_idx == 0) {
                info->submap = 1u << XENFEAT_auto_translated_physmap;
                // A PVH guest's platform: upcalls by vector, pvclock safe to use, page
                // tables its own (Xen's list for a translated HVM domain).
                if (ctx.domain.is_pvh())
                    info->submap |= (1u << XENFEAT_hvm_callback_vector) |
                                    (1u << XENFEAT_hvm_safe_pvclock) |
                                    (1u << XENFEAT_writable_page_tables);
            } else if (info->submap_idx >= XENFEAT_NR_SUBMAPS)
                return -XEN_EINVAL;
            return put(ctx, arg, *info);
        }
        case XENVER_pagesize:
            return static_cast<long>(kPageSize);
        case XENVER_guest_handle: {
            xen_domain_handle_t handle;
            std::memcpy(handle, ctx.domain.uuid().data(), sizeof handle);
            return put(ctx, arg, handle);
        }
        case XENVER_commandline:
        case XENVER_build_id:
            return -XEN_EPERM;  // the host's, not a guest's business
        default:
            return -XEN_ENOSYS;
    }
}

}  // namespace xenolith::hv
