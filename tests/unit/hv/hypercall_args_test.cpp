// Every hypercall handler checks its arguments: bad pointers give -EFAULT, bad values
// -EINVAL (or the errno Xen uses), unknown commands -ENOSYS; nothing crashes the host.
#include <gtest/gtest.h>

#include "abi/xenolith.h"
#include "tests/unit/hv/hypercall_fixture.hpp"

namespace xenolith::hv::testing {
namespace {

TEST_F(HypercallTest, UnknownHypercallsReturnEnosysAndAreCountedPerNumber) {
    EXPECT_EQ(call(63), -XEN_ENOSYS);
    EXPECT_EQ(call(63), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_mmu_update), -XEN_ENOSYS);
    EXPECT_EQ(call(100000), -XEN_ENOSYS);
    EXPECT_EQ(domain_->unknown_hypercalls(), 4u);
    EXPECT_EQ(domain_->unknown_hypercalls(63), 2u);
    EXPECT_EQ(domain_->unknown_hypercalls(__HYPERVISOR_mmu_update), 1u);
    EXPECT_EQ(domain_->unknown_hypercalls(kHypercallTableSize + 5), 1u);  // out of range bucket
}

TEST_F(HypercallTest, XenVersionAnswersAndChecksPointers) {
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_version), (4 << 16) | 17);
    uint64_t buf = put(xen_extraversion_t{});
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_extraversion, buf), 0);
    EXPECT_STREQ(reinterpret_cast<const char*>(domain_->memory().base() + buf), "-xenolith");
    for (uint64_t bad : {kUnmapped, kBeyondRam, kUpperHalf, kMemory - 4})
        EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_capabilities, bad), -XEN_EFAULT) << bad;
    xen_feature_info_t fi{};
    uint64_t fva = put(fi);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_get_features, fva), 0);
    EXPECT_EQ(get<xen_feature_info_t>(fva).submap, 1u << XENFEAT_auto_translated_physmap);
    fi.submap_idx = XENFEAT_NR_SUBMAPS;
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_get_features, put(fi)), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_commandline, buf), -XEN_EPERM);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, 999), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_pagesize), 4096);
}

TEST_F(HypercallTest, ConsoleIoWritesReadsAndBoundsTheBuffer) {
    const char text[] = "hello console\n";
    uint64_t va = put(text);
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_write, sizeof text - 1, va), 0);
    EXPECT_EQ(console_, "hello console\n");
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_write, 16, kUnmapped), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_write, 8192, kMemory - 4096), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_write, uint64_t{1} << 40, va), -XEN_EINVAL);
    domain_->console_input("typed");
    char in[16] = {};
    uint64_t ibuf = put(in);
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_read, 3, ibuf), 3);
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_read, 16, kUnmapped), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_read, 16, ibuf), 2);  // nothing was lost
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(domain_->memory().base() + ibuf), 2), "ed");
    EXPECT_EQ(call(__HYPERVISOR_console_io, 77, 1, va), -XEN_ENOSYS);
}

TEST_F(HypercallTest, SchedOpValidatesShutdownPollAndPrivilege) {
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, kUnmapped), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, put(sched_shutdown_t{SHUTDOWN_MAX + 1})),
              -XEN_EINVAL);
    sched_poll_t poll{};
    poll.nr_ports = 129;
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_poll, put(poll)), -XEN_EINVAL);
    poll.nr_ports = 1;
    set_xen_guest_handle(poll.ports, reinterpret_cast<evtchn_port_t*>(kUnmapped));
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_poll, put(poll)), -XEN_EFAULT);
    evtchn_port_t port = 5;  // never allocated
    set_xen_guest_handle(poll.ports, reinterpret_cast<evtchn_port_t*>(put(port)));
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_poll, put(poll)), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_remote_shutdown, put(sched_remote_shutdown_t{})),
              -XEN_EPERM);
    EXPECT_EQ(call(__HYPERVISOR_sched_op, 1234, 0), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_sched_op, XENOLITH_SCHEDOP_exit_status, kUnmapped), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_sched_op, XENOLITH_SCHEDOP_exit_status, put(uint32_t{42})), 0);
    EXPECT_EQ(domain_->state(), DomainState::Building);
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, put(sched_shutdown_t{SHUTDOWN_poweroff})), 0);
    EXPECT_EQ(domain_->state(), DomainState::Shutdown);
    EXPECT_EQ(domain_->shutdown_reason(), SHUTDOWN_poweroff);
    EXPECT_EQ(domain_->exit_status(), 42u);
}

TEST_F(HypercallTest, SchedOpShutdownCodeIsTheReasonReported) {
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_shutdown_code, put(sched_shutdown_t{SHUTDOWN_crash})), 0);
    EXPECT_EQ(domain_->state(), DomainState::Building);  // declared, not done
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, put(sched_shutdown_t{SHUTDOWN_poweroff})), 0);
    EXPECT_EQ(domain_->shutdown_reason(), SHUTDOWN_crash);
    EXPECT_EQ(domain_->state(), DomainState::Crashed);
}

TEST_F(HypercallTest, VcpuOpChecksVcpuIdsContextsAndTimers) {
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 2), -XEN_ENOENT);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_is_up, ~0ull), -XEN_ENOENT);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 1), 0);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_up, 1), -XEN_EINVAL);  // no context yet
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, kUnmapped), -XEN_EFAULT);
    auto ctx = std::make_unique<vcpu_guest_context_t>();
    ctx->ctrlreg[3] = xen_pfn_to_cr3(kMemory >> 12);  // page tables outside RAM
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, put(*ctx)), -XEN_EINVAL);
    ctx->ctrlreg[3] = 0;  // the boot page tables
    ctx->user_regs.rip = 0x100000;
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, put(*ctx)), 0);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, put(*ctx)), -XEN_EEXIST);

    vcpu_runstate_info_t rs{};
    uint64_t rsva = put(rs);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info, 1, rsva), 0);
    EXPECT_EQ(get<vcpu_runstate_info_t>(rsva).state, RUNSTATE_offline);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info, 0, kBeyondRam), -XEN_EFAULT);

    vcpu_set_singleshot_timer_t t{};
    t.timeout_abs_ns = 1;  // long past
    t.flags = VCPU_SSHOTTMR_future;
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer, 0, put(t)), -XEN_ETIME);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer, 1, put(t)), -XEN_EINVAL);
    t.flags = 0x80;
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer, 0, put(t)), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer, 0, kUnmapped), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_stop_singleshot_timer, 1), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_stop_singleshot_timer, 0), 0);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, 999, 0), -XEN_ENOSYS);
}

TEST_F(HypercallTest, RegisterVcpuInfoChecksPlacementAndMovesState) {
    vcpu_register_vcpu_info_t r{};
    r.mfn = kMemory >> 12;  // beyond RAM
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 0, put(r)), -XEN_EINVAL);
    r.mfn = next_scratch_ >> 12;
    r.offset = 4096 - sizeof(vcpu_info_t) + 1;  // would straddle the page
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 0, put(r)), -XEN_EINVAL);
    r.offset = 0;
    r.rsvd = 1;
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 0, put(r)), -XEN_EINVAL);
    r.rsvd = 0;
    uint64_t target = (next_scratch_ + 0x2000) & ~uint64_t{0xfff};
    r.mfn = target >> 12;
    r.offset = 64;
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 0, put(r)), 0);
    EXPECT_EQ(domain_->vcpu(0).vcpu_info(), domain_->memory().object<vcpu_info_t>(target + 64));
    EXPECT_EQ(domain_->vcpu(0).vcpu_info()->evtchn_upcall_pending, 1);  // nothing lost in the move
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 0, put(r)), -XEN_EINVAL);  // once
}

TEST_F(HypercallTest, CallbackOpAcceptsOnlyDeliverableCallbacks) {
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_event;
    cb.address = 0x100000;
    EXPECT_EQ(call(__HYPERVISOR_callback_op, CALLBACKOP_register, put(cb)), 0);
    cb.address = kUpperHalf;
    EXPECT_EQ(call(__HYPERVISOR_callback_op, CALLBACKOP_register, put(cb)), -XEN_EINVAL);
    cb.type = CALLBACKTYPE_syscall;
    cb.address = 0x100000;
    EXPECT_EQ(call(__HYPERVISOR_callback_op, CALLBACKOP_register, put(cb)), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_callback_op, CALLBACKOP_register, kUnmapped), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_callback_op, 42, put(cb)), -XEN_ENOSYS);
}

TEST_F(HypercallTest, MemoryOpReportsRamAndRefusesOtherDomains) {
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_current_reservation, put(domid_t{DOMID_SELF})),
              static_cast<long>(kMemory >> 12));
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_maximum_reservation, put(domain_->id())),
              static_cast<long>(kMemory >> 12));
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_current_reservation, put(domid_t{0})), -XEN_EPERM);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_current_reservation, kUnmapped), -XEN_EFAULT);
    struct [[gnu::packed]] E820 {
        uint64_t addr, size;
        uint32_t type;
    };
    uint64_t entries = put(std::array<E820, 4>{});
    xen_memory_map map{};
    map.nr_entries = 4;
    set_xen_guest_handle(map.buffer, reinterpret_cast<void*>(entries));
    uint64_t mva = put(map);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_memory_map, mva), 0);
    EXPECT_EQ(get<xen_memory_map>(mva).nr_entries, 1u);
    E820 ram = get<E820>(entries);
    EXPECT_EQ(ram.addr, 0u);
    EXPECT_EQ(ram.size, kMemory);
    EXPECT_EQ(ram.type, 1u);
    map.nr_entries = 0;
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_memory_map, put(map)), -XEN_EINVAL);
    map.nr_entries = 4;
    set_xen_guest_handle(map.buffer, reinterpret_cast<void*>(kUnmapped));
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_memory_map, put(map)), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_populate_physmap, 0), -XEN_ENOSYS);
}

TEST_F(HypercallTest, MulticallRunsEachEntryAndBoundsTheBatch) {
    multicall_entry_t batch[3] = {};
    batch[0].op = __HYPERVISOR_xen_version;
    batch[0].args[0] = XENVER_version;
    batch[1].op = __HYPERVISOR_multicall;  // nesting is refused
    batch[2].op = 62;                      // unknown
    uint64_t va = put(batch);
    EXPECT_EQ(call(__HYPERVISOR_multicall, va, 3), 0);
    auto out = get<std::array<multicall_entry_t, 3>>(va);
    EXPECT_EQ(static_cast<long>(out[0].result), (4 << 16) | 17);
    EXPECT_EQ(static_cast<long>(out[1].result), -XEN_EINVAL);
    EXPECT_EQ(static_cast<long>(out[2].result), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_multicall, va, 5000), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_multicall, kUnmapped, 1), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_multicall, va, 0), 0);
}

}  // namespace
}  // namespace xenolith::hv::testing

namespace xenolith::hv::testing {
namespace {

TEST_F(HypercallTest, CompatFormsOfSchedAndEventChannelOpsStillWork) {
    evtchn_op_t op{};
    op.cmd = EVTCHNOP_alloc_unbound;
    op.u.alloc_unbound.dom = DOMID_SELF;
    op.u.alloc_unbound.remote_dom = DOMID_SELF;
    uint64_t va = put(op);
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op_compat, va), 0);
    EXPECT_GT(get<evtchn_op_t>(va).u.alloc_unbound.port, 0u);
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op_compat, kUnmapped), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_sched_op_compat, SCHEDOP_shutdown, SHUTDOWN_MAX + 1), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_sched_op_compat, SCHEDOP_poll, 0), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_sched_op_compat, SCHEDOP_shutdown, SHUTDOWN_reboot), 0);  // by value
    EXPECT_EQ(domain_->shutdown_reason(), SHUTDOWN_reboot);
}

}  // namespace
}  // namespace xenolith::hv::testing
