// Event channels through EVTCHNOP_*: port states, Xen's errors, and the 2-level pending
// and mask bits that the guest sees in shared_info and vcpu_info.
#include <gtest/gtest.h>

#include "tests/unit/hv/hypercall_fixture.hpp"

namespace xenolith::hv::testing {
namespace {

class EventChannelTest : public HypercallTest {
protected:
    long bind_virq(uint32_t virq, uint32_t vcpu) {
        evtchn_bind_virq_t op{virq, vcpu, 0};
        uint64_t va = put(op);
        long rc = call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_virq, va);
        return rc < 0 ? rc : get<evtchn_bind_virq_t>(va).port;
    }
    long alloc_unbound(domid_t remote) {
        evtchn_alloc_unbound_t op{DOMID_SELF, remote, 0};
        uint64_t va = put(op);
        long rc = call(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, va);
        return rc < 0 ? rc : get<evtchn_alloc_unbound_t>(va).port;
    }
    long op_on_port(unsigned cmd, uint32_t port) {
        return call(__HYPERVISOR_event_channel_op, cmd, put(evtchn_port_t{port}));
    }
    bool pending(uint32_t port) { return domain_->evtchn().is_pending(port); }
    vcpu_info_t& vi(uint32_t v) { return *domain_->vcpu(v).vcpu_info(); }
};

TEST_F(EventChannelTest, BindVirqChecksVirqVcpuAndDuplicates) {
    EXPECT_EQ(bind_virq(NR_VIRQS, 0), -XEN_EINVAL);
    EXPECT_EQ(bind_virq(VIRQ_TIMER, 2), -XEN_ENOENT);
    long t0 = bind_virq(VIRQ_TIMER, 0);
    long t1 = bind_virq(VIRQ_TIMER, 1);  // per-vCPU virq: one per vCPU
    EXPECT_GT(t0, 0);
    EXPECT_GT(t1, 0);
    EXPECT_NE(t0, t1);
    EXPECT_EQ(bind_virq(VIRQ_TIMER, 0), -XEN_EEXIST);
    EXPECT_EQ(bind_virq(VIRQ_CONSOLE, 1), -XEN_EINVAL);  // global virqs bind on vCPU 0
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_virq, kUnmapped), -XEN_EFAULT);
}

TEST_F(EventChannelTest, VirqRaisesPendingAndUpcallOnlyWhenUnmasked) {
    long port = bind_virq(VIRQ_TIMER, 1);
    ASSERT_GT(port, 0);
    shared_info_t* s = domain_->shared_info();
    s->evtchn_mask[0] |= xen_ulong_t{1} << port;
    domain_->evtchn().raise_virq(VIRQ_TIMER, 1);
    EXPECT_TRUE(pending(static_cast<uint32_t>(port)));
    EXPECT_EQ(vi(1).evtchn_upcall_pending, 0);  // masked: no upcall
    EXPECT_EQ(op_on_port(EVTCHNOP_unmask, static_cast<uint32_t>(port)), 0);
    EXPECT_EQ(vi(1).evtchn_upcall_pending, 1);  // unmasking a pending port delivers it
    EXPECT_EQ(vi(1).evtchn_pending_sel, xen_ulong_t{1});
    EXPECT_EQ(vi(0).evtchn_upcall_pending, 0);  // only the bound vCPU hears it
}

TEST_F(EventChannelTest, LoopbackInterdomainSendsToThePeer) {
    long a = alloc_unbound(DOMID_SELF);
    ASSERT_GT(a, 0);
    EXPECT_EQ(op_on_port(EVTCHNOP_send, static_cast<uint32_t>(a)), 0);  // unbound: dropped
    EXPECT_FALSE(pending(static_cast<uint32_t>(a)));
    evtchn_bind_interdomain_t bind{DOMID_SELF, static_cast<evtchn_port_t>(a), 0};
    uint64_t bva = put(bind);
    ASSERT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain, bva), 0);
    uint32_t b = get<evtchn_bind_interdomain_t>(bva).local_port;
    EXPECT_EQ(op_on_port(EVTCHNOP_send, b), 0);
    EXPECT_TRUE(pending(static_cast<uint32_t>(a)));
    EXPECT_FALSE(pending(b));
    EXPECT_EQ(vi(0).evtchn_upcall_pending, 1);

    evtchn_status_t st{};
    st.dom = DOMID_SELF;
    st.port = b;
    uint64_t sva = put(st);
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_status, sva), 0);
    EXPECT_EQ(get<evtchn_status_t>(sva).status, EVTCHNSTAT_interdomain);
    EXPECT_EQ(get<evtchn_status_t>(sva).u.interdomain.port, static_cast<evtchn_port_t>(a));

    EXPECT_EQ(op_on_port(EVTCHNOP_close, b), 0);  // the peer is unbound again
    st.port = static_cast<evtchn_port_t>(a);
    sva = put(st);
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_status, sva), 0);
    EXPECT_EQ(get<evtchn_status_t>(sva).status, EVTCHNSTAT_unbound);
}

TEST_F(EventChannelTest, InvalidPortsAndForeignDomainsAreRefused) {
    EXPECT_EQ(op_on_port(EVTCHNOP_send, 0), -XEN_EINVAL);  // port 0 is never valid
    EXPECT_EQ(op_on_port(EVTCHNOP_send, 77), -XEN_EINVAL);
    EXPECT_EQ(op_on_port(EVTCHNOP_close, 77), -XEN_EINVAL);
    EXPECT_EQ(op_on_port(EVTCHNOP_unmask, 77), -XEN_EINVAL);
    EXPECT_EQ(op_on_port(EVTCHNOP_send, 0xffffffff), -XEN_EINVAL);
    evtchn_alloc_unbound_t for_other{7, DOMID_SELF, 0};
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, put(for_other)), -XEN_EPERM);
    evtchn_bind_interdomain_t foreign{9, 1, 0};
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain, put(foreign)), -XEN_ESRCH);
    evtchn_bind_interdomain_t not_unbound{DOMID_SELF, 3, 0};
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain, put(not_unbound)), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_init_control, 0), -XEN_ENOSYS);
    long virq = bind_virq(VIRQ_TIMER, 0);
    EXPECT_EQ(op_on_port(EVTCHNOP_send, static_cast<uint32_t>(virq)), -XEN_EINVAL);  // virqs are Xen's to raise
}

TEST_F(EventChannelTest, PortTableHonoursItsLimitAndReusesClosedPorts) {
    make_domain(4);  // ports 1..3 usable
    EXPECT_EQ(alloc_unbound(DOMID_SELF), 1);
    EXPECT_EQ(alloc_unbound(DOMID_SELF), 2);
    EXPECT_EQ(alloc_unbound(DOMID_SELF), 3);
    EXPECT_EQ(alloc_unbound(DOMID_SELF), -XEN_ENOSPC);
    EXPECT_EQ(op_on_port(EVTCHNOP_close, 2), 0);
    EXPECT_EQ(alloc_unbound(DOMID_SELF), 2);
    EXPECT_EQ(domain_->evtchn().ports_in_use(), 3u);
}

TEST_F(EventChannelTest, IpiRaisesOnItsVcpu) {
    evtchn_bind_ipi_t ipi{1, 0};
    uint64_t va = put(ipi);
    ASSERT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, va), 0);
    uint32_t port = get<evtchn_bind_ipi_t>(va).port;
    EXPECT_EQ(op_on_port(EVTCHNOP_send, port), 0);
    EXPECT_EQ(vi(1).evtchn_upcall_pending, 1);
    EXPECT_EQ(vi(0).evtchn_upcall_pending, 0);
    evtchn_bind_ipi_t bad{5, 0};
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, put(bad)), -XEN_ENOENT);
}

}  // namespace
}  // namespace xenolith::hv::testing

namespace xenolith::hv::testing {
namespace {

// Two domains of the same hypervisor talk over an interdomain channel; when one dies the
// other's port goes back to unbound (no one is left bound to a dead port).
TEST_F(EventChannelTest, InterdomainChannelsJoinTwoDomainsAndSurviveAPeersDeath) {
    auto peer = xenolith::testing::make_test_domain(hypervisor(), "peer-of-" + domain_->name(),
                                                    kMemory, 1);
    auto call_peer = [&](unsigned cmd, uint64_t va) {
        HypercallContext ctx{*peer.domain, peer.domain->vcpu(0),
                             GuestAccess(peer.domain->memory(), peer.plan.layout.pt_base)};
        return dispatch_hypercall(ctx, __HYPERVISOR_event_channel_op, {cmd, va, 0, 0, 0});
    };
    uint64_t scratch = peer.plan.layout.first_free;

    long offered = alloc_unbound(peer.domain->id());
    ASSERT_GT(offered, 0);
    // Only the domain it was offered to may bind it.
    evtchn_bind_interdomain_t self_bind{DOMID_SELF, static_cast<evtchn_port_t>(offered), 0};
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain, put(self_bind)), -XEN_EINVAL);

    evtchn_bind_interdomain_t bind{domain_->id(), static_cast<evtchn_port_t>(offered), 0};
    peer.domain->memory().write(scratch, bind);
    ASSERT_EQ(call_peer(EVTCHNOP_bind_interdomain, scratch), 0);
    uint32_t peer_port = peer.domain->memory().read<evtchn_bind_interdomain_t>(scratch)->local_port;
    EXPECT_EQ(call_peer(EVTCHNOP_bind_interdomain, scratch), -XEN_EINVAL);  // already taken

    // Peer -> us, then us -> peer.
    peer.domain->memory().write(scratch, evtchn_send_t{peer_port});
    EXPECT_EQ(call_peer(EVTCHNOP_send, scratch), 0);
    EXPECT_TRUE(pending(static_cast<uint32_t>(offered)));
    EXPECT_EQ(vi(0).evtchn_upcall_pending, 1);
    EXPECT_FALSE(peer.domain->evtchn().is_pending(peer_port));
    EXPECT_EQ(op_on_port(EVTCHNOP_send, static_cast<uint32_t>(offered)), 0);
    EXPECT_TRUE(peer.domain->evtchn().is_pending(peer_port));

    evtchn_status_t st{};
    st.dom = DOMID_SELF;
    st.port = static_cast<evtchn_port_t>(offered);
    uint64_t sva = put(st);
    ASSERT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_status, sva), 0);
    EXPECT_EQ(get<evtchn_status_t>(sva).status, EVTCHNSTAT_interdomain);
    EXPECT_EQ(get<evtchn_status_t>(sva).u.interdomain.dom, peer.domain->id());
    EXPECT_EQ(get<evtchn_status_t>(sva).u.interdomain.port, peer_port);

    // The peer dies: our port is unbound again, still offered to that domid; sends drop.
    hypervisor().destroy_domain(peer.domain->id());
    peer.domain.reset();
    sva = put(st);
    ASSERT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_status, sva), 0);
    EXPECT_EQ(get<evtchn_status_t>(sva).status, EVTCHNSTAT_unbound);
    EXPECT_EQ(op_on_port(EVTCHNOP_send, static_cast<uint32_t>(offered)), 0);
    evtchn_bind_interdomain_t gone{static_cast<domid_t>(DOMID_FIRST_RESERVED - 1), 1, 0};
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain, put(gone)), -XEN_ESRCH);
}

}  // namespace
}  // namespace xenolith::hv::testing
