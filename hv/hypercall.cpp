#include "hv/hypercall.hpp"

#include "abi/xen.hpp"

#include "hv/domain.hpp"

namespace xenolith::hv {

namespace {

constexpr std::array<HypercallHandler, kHypercallTableSize> make_table() {
    std::array<HypercallHandler, kHypercallTableSize> t{};
    t[__HYPERVISOR_set_timer_op] = do_set_timer_op;
    t[__HYPERVISOR_console_io] = do_console_io;
    t[__HYPERVISOR_xen_version] = do_xen_version;
    t[__HYPERVISOR_multicall] = do_multicall;
    t[__HYPERVISOR_memory_op] = do_memory_op;
    t[__HYPERVISOR_vcpu_op] = do_vcpu_op;
    t[__HYPERVISOR_callback_op] = do_callback_op;
    t[__HYPERVISOR_sched_op] = do_sched_op;
    t[__HYPERVISOR_event_channel_op] = do_event_channel_op;
    t[__HYPERVISOR_grant_table_op] = do_grant_table_op;
    t[__HYPERVISOR_hvm_op] = do_hvm_op;
    t[__HYPERVISOR_sched_op_compat] = do_sched_op_compat;
    t[__HYPERVISOR_event_channel_op_compat] = do_event_channel_op_compat;
    return t;
}

constexpr auto kTable = make_table();

}  // namespace

long dispatch_hypercall(HypercallContext& ctx, uint64_t nr, const HypercallArgs& args) {
    if (nr >= kTable.size() || kTable[nr] == nullptr) {
        ctx.domain.count_unknown_hypercall(nr);
        return -XEN_ENOSYS;
    }
    return kTable[nr](ctx, args);
}

}  // namespace xenolith::hv
