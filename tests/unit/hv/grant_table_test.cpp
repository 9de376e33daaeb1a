// Grant tables (v1) through GNTTABOP_* and XENMEM_add_to_physmap, between two domains of
// one hypervisor, and host-side GrantMappings for backends: placement and limits, copies
// verified byte for byte, Xen's GNTST_* status for every misuse, pinning that keeps a
// mapped grant from being revoked, and a granter that dies while mapped.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "base/error.hpp"
#include "tests/unit/hv/hypercall_fixture.hpp"

namespace xenolith::hv::testing {
namespace {

constexpr domid_t kNoSuchDomain = 4000;

class GrantTableTest : public HypercallTest {
  protected:
    void SetUp() override {
        HypercallTest::SetUp();
        peer_ = xenolith::testing::make_test_domain(hypervisor(), "peer-of-" + domain_->name(),
                                                    kMemory, 1);
        peer_scratch_ = peer_.plan.layout.first_free;
    }
    void TearDown() override {
        if (peer_.domain) hypervisor().destroy_domain(peer_.domain->id());
        HypercallTest::TearDown();
    }

    Domain& peer() { return *peer_.domain; }
    domid_t me() { return domain_->id(); }

    long gnttab(unsigned cmd, uint64_t va, uint64_t count = 1) {
        return call(__HYPERVISOR_grant_table_op, cmd, va, count);
    }
    long gnttab_as_peer(unsigned cmd, uint64_t va, uint64_t count = 1) {
        HypercallContext ctx{peer(), peer().vcpu(0),
                             GuestAccess(peer().memory(), peer_.plan.layout.pt_base)};
        return dispatch_hypercall(ctx, __HYPERVISOR_grant_table_op, {cmd, va, count, 0, 0});
    }
    template <typename T>
    uint64_t peer_put(const T& value) {
        uint64_t va = peer_scratch_;
        peer_scratch_ += (sizeof(T) + 63) & ~uint64_t{63};
        EXPECT_TRUE(peer().memory().write(va, value));
        return va;
    }

    // Pages well above the scratch area, for granted data.
    static uint64_t data_pfn(const boot::PvBootPlan& plan, unsigned i) {
        return (plan.layout.first_free >> kPageShift) + 256 + i;
    }
    uint64_t my_pfn(unsigned i) { return data_pfn(plan_, i); }
    uint64_t peer_pfn(unsigned i) { return data_pfn(peer_.plan, i); }
    static uint8_t* page(Domain& d, uint64_t pfn) {
        return d.memory().base() + (pfn << kPageShift);
    }

    // The guest's own view of its entry `ref`, where its table frames are.
    static grant_entry_v1_t& entry(Domain& d, grant_ref_t ref) {
        auto frames = d.grant_table().frame_list(d.grant_table().nr_frames());
        uint64_t gpa = (frames.at(ref / kGrantEntriesPerFrame) << kPageShift) +
                       (ref % kGrantEntriesPerFrame) * sizeof(grant_entry_v1_t);
        return *d.memory().object<grant_entry_v1_t>(gpa);
    }
    // What a guest's gnttab_grant_foreign_access_ref does: frame and domid, then flags.
    static void grant(Domain& d, grant_ref_t ref, domid_t to, uint64_t pfn, bool readonly = false) {
        grant_entry_v1_t& e = entry(d, ref);
        e.frame = static_cast<uint32_t>(pfn);
        e.domid = to;
        std::atomic_ref<uint16_t>(e.flags).store(
            static_cast<uint16_t>(GTF_permit_access | (readonly ? GTF_readonly : 0)));
    }
    // What a guest's gnttab_end_foreign_access_ref does: fails while the peer uses it.
    static bool end_foreign_access(Domain& d, grant_ref_t ref) {
        std::atomic_ref<uint16_t> flags(entry(d, ref).flags);
        uint16_t f = flags.load();
        do {
            if (f & (GTF_reading | GTF_writing)) return false;
        } while (!flags.compare_exchange_weak(f, 0));
        return true;
    }
    static uint16_t flags(Domain& d, grant_ref_t ref) {
        return std::atomic_ref<uint16_t>(entry(d, ref).flags).load();
    }

    static gnttab_copy_t copy_op(uint16_t flags, uint64_t src, domid_t src_dom, uint16_t src_off,
                                 uint64_t dst, domid_t dst_dom, uint16_t dst_off, uint16_t len) {
        gnttab_copy_t op{};
        if (flags & GNTCOPY_source_gref)
            op.source.u.ref = static_cast<grant_ref_t>(src);
        else
            op.source.u.gmfn = src;
        if (flags & GNTCOPY_dest_gref)
            op.dest.u.ref = static_cast<grant_ref_t>(dst);
        else
            op.dest.u.gmfn = dst;
        op.source.domid = src_dom;
        op.source.offset = src_off;
        op.dest.domid = dst_dom;
        op.dest.offset = dst_off;
        op.len = len;
        op.flags = flags;
        op.status = 1;  // never a GNTST value: proves the status was written
        return op;
    }
    // One copy by us; its status (or the hypercall's errno when it failed as a whole).
    long copy(const gnttab_copy_t& op) {
        uint64_t va = put(op);
        long rc = gnttab(GNTTABOP_copy, va);
        return rc < 0 ? rc : get<gnttab_copy_t>(va).status;
    }

    static void fill(uint8_t* p, uint32_t seed) {
        uint32_t x = seed;
        for (size_t i = 0; i < kPageSize; ++i) {
            x = x * 1664525u + 1013904223u;
            p[i] = static_cast<uint8_t>(x >> 24);
        }
    }
    static uint64_t checksum(const uint8_t* p, size_t n) {
        uint64_t h = 1469598103934665603ull;  // FNV-1a
        for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
        return h;
    }

    xenolith::testing::TestDomain peer_;
    uint64_t peer_scratch_ = 0;
};

// --- Placement and queries ------------------------------------------------------------

TEST_F(GrantTableTest, SetupTableReturnsTheBuilderFramesAndQuerySizeTheLimit) {
    gnttab_query_size_t q{};
    q.dom = DOMID_SELF;
    uint64_t qva = put(q);
    ASSERT_EQ(gnttab(GNTTABOP_query_size, qva), 0);
    EXPECT_EQ(get<gnttab_query_size_t>(qva).status, GNTST_okay);
    EXPECT_EQ(get<gnttab_query_size_t>(qva).nr_frames, kDefaultGrantFrames);
    EXPECT_EQ(get<gnttab_query_size_t>(qva).max_nr_frames, kDefaultMaxGrantFrames);

    uint64_t list = put(std::array<xen_pfn_t, kDefaultGrantFrames>{});
    gnttab_setup_table_t st{};
    st.dom = DOMID_SELF;
    st.nr_frames = kDefaultGrantFrames;
    set_xen_guest_handle(st.frame_list, reinterpret_cast<xen_pfn_t*>(list));
    uint64_t sva = put(st);
    ASSERT_EQ(gnttab(GNTTABOP_setup_table, sva), 0);
    EXPECT_EQ(get<gnttab_setup_table_t>(sva).status, GNTST_okay);
    auto frames = get<std::array<xen_pfn_t, kDefaultGrantFrames>>(list);
    for (uint32_t i = 0; i < kDefaultGrantFrames; ++i)
        EXPECT_EQ(frames[i], (plan_.layout.grant_frames >> kPageShift) + i) << i;

    auto setup_status = [&](domid_t dom, uint32_t n, uint64_t frame_list) -> long {
        gnttab_setup_table_t s{};
        s.dom = dom;
        s.nr_frames = n;
        set_xen_guest_handle(s.frame_list, reinterpret_cast<xen_pfn_t*>(frame_list));
        uint64_t va = put(s);
        long rc = gnttab(GNTTABOP_setup_table, va);
        return rc < 0 ? rc : get<gnttab_setup_table_t>(va).status;
    };
    EXPECT_EQ(setup_status(me(), 1, list), GNTST_okay);  // our own id, spelled out
    // Frames are guest pages: no more than are placed, never more than the limit.
    EXPECT_EQ(setup_status(DOMID_SELF, kDefaultGrantFrames + 1, list), GNTST_general_error);
    EXPECT_EQ(setup_status(DOMID_SELF, kDefaultMaxGrantFrames + 1, list), GNTST_general_error);
    EXPECT_EQ(setup_status(peer().id(), 1, list), GNTST_permission_denied);
    EXPECT_EQ(setup_status(kNoSuchDomain, 1, list), GNTST_bad_domain);
    EXPECT_EQ(setup_status(DOMID_SELF, 1, kUnmapped), GNTST_bad_virt_addr);
    EXPECT_EQ(setup_status(DOMID_SELF, 0, kUnmapped), GNTST_okay);  // nothing to write
    EXPECT_EQ(gnttab(GNTTABOP_setup_table, sva, 2), -XEN_EINVAL);   // one op per call
    EXPECT_EQ(gnttab(GNTTABOP_query_size, qva, 0), -XEN_EINVAL);
    for (uint64_t bad : {kUnmapped, kBeyondRam, kUpperHalf}) {
        EXPECT_EQ(gnttab(GNTTABOP_setup_table, bad), -XEN_EFAULT);
        EXPECT_EQ(gnttab(GNTTABOP_query_size, bad), -XEN_EFAULT);
    }
    q.dom = peer().id();
    EXPECT_EQ(gnttab(GNTTABOP_query_size, qva = put(q)), 0);
    EXPECT_EQ(get<gnttab_query_size_t>(qva).status, GNTST_permission_denied);
    q.dom = kNoSuchDomain;
    EXPECT_EQ(gnttab(GNTTABOP_query_size, qva = put(q)), 0);
    EXPECT_EQ(get<gnttab_query_size_t>(qva).status, GNTST_bad_domain);
}

TEST_F(GrantTableTest, AddToPhysmapMakesAGuestPageAGrantFrameUpToTheLimit) {
    auto add = [&](domid_t dom, unsigned space, uint64_t idx, uint64_t gpfn) {
        xen_add_to_physmap_t op{};
        op.domid = dom;
        op.space = space;
        op.idx = idx;
        op.gpfn = gpfn;
        return call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, put(op));
    };
    const uint64_t p = my_pfn(0);
    std::fill_n(page(*domain_, p), kPageSize, 0xab);
    ASSERT_EQ(add(DOMID_SELF, XENMAPSPACE_grant_table, kDefaultGrantFrames, p), 0);
    EXPECT_EQ(domain_->grant_table().nr_frames(), kDefaultGrantFrames + 1);
    EXPECT_EQ(page(*domain_, p)[100], 0);  // a new frame starts empty, as Xen's do
    // The new frame's entries are usable at once.
    const grant_ref_t ref = kDefaultGrantFrames * kGrantEntriesPerFrame + 3;
    grant(*domain_, ref, 0, my_pfn(1));
    EXPECT_EQ(entry(*domain_, ref).frame, my_pfn(1));
    EXPECT_TRUE(domain_->grant_table().map(ref, 0, false));

    // Up to the last frame the limit allows; frames in between exist with no page.
    ASSERT_EQ(add(me(), XENMAPSPACE_grant_table, kDefaultMaxGrantFrames - 1, my_pfn(2)), 0);
    auto frames = domain_->grant_table().frame_list(kDefaultMaxGrantFrames);
    ASSERT_EQ(frames.size(), kDefaultMaxGrantFrames);
    EXPECT_EQ(frames[kDefaultGrantFrames], p);
    EXPECT_EQ(frames[kDefaultGrantFrames + 1], kInvalidGfn);
    EXPECT_EQ(frames[kDefaultMaxGrantFrames - 1], my_pfn(2));
    EXPECT_EQ(domain_->grant_table()
                  .map((kDefaultGrantFrames + 1) * kGrantEntriesPerFrame, 0, true)
                  .status(),
              GNTST_general_error);  // an entry in a frame without a page is invalid

    EXPECT_EQ(add(DOMID_SELF, XENMAPSPACE_grant_table, kDefaultMaxGrantFrames, my_pfn(3)),
              -XEN_EINVAL);
    EXPECT_EQ(add(DOMID_SELF, XENMAPSPACE_grant_table, XENMAPIDX_grant_table_status | 0, my_pfn(3)),
              -XEN_EINVAL);  // v1 has no status frames
    EXPECT_EQ(add(DOMID_SELF, XENMAPSPACE_grant_table, 0, kMemory >> kPageShift), -XEN_EINVAL);
    EXPECT_EQ(add(DOMID_SELF, XENMAPSPACE_grant_table, 0, ~uint64_t{0}), -XEN_EINVAL);
    EXPECT_EQ(add(peer().id(), XENMAPSPACE_grant_table, 0, my_pfn(3)), -XEN_EPERM);
    EXPECT_EQ(add(kNoSuchDomain, XENMAPSPACE_grant_table, 0, my_pfn(3)), -XEN_ESRCH);
    EXPECT_EQ(add(DOMID_SELF, XENMAPSPACE_shared_info, 0, my_pfn(3)), -XEN_ENOSYS);
    EXPECT_EQ(add(DOMID_SELF, 99, 0, my_pfn(3)), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, kUnmapped), -XEN_EFAULT);
    EXPECT_EQ(domain_->grant_table().nr_frames(), kDefaultMaxGrantFrames);
}

TEST_F(GrantTableTest, MovingAFrameCarriesItsEntries) {
    grant(*domain_, 10, peer().id(), my_pfn(0));
    xen_add_to_physmap_t op{};
    op.domid = DOMID_SELF;
    op.space = XENMAPSPACE_grant_table;
    op.idx = 0;
    op.gpfn = my_pfn(5);
    ASSERT_EQ(call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, put(op)), 0);
    EXPECT_EQ(domain_->grant_table().frame_list(1).at(0), my_pfn(5));
    EXPECT_EQ(entry(*domain_, 10).domid, peer().id());
    EXPECT_EQ(entry(*domain_, 10).frame, my_pfn(0));
    EXPECT_TRUE(domain_->grant_table().map(10, peer().id(), true));
}

TEST_F(GrantTableTest, TheFrameLimitIsPerDomainAndBounded) {
    DomainParams p;
    p.name = "small-table-of-" + domain_->name();
    p.memory_bytes = kMemory;
    p.max_grant_frames = 2;
    auto small = hypervisor().create_domain(p);
    small->grant_table().place_boot_frames(plan_.layout.grant_frames, kDefaultGrantFrames);
    EXPECT_EQ(small->grant_table().nr_frames(), 2u);  // the builder places what the limit allows
    EXPECT_EQ(small->grant_table().place_frame(2, my_pfn(0)), -XEN_EINVAL);
    hypervisor().destroy_domain(small->id());
    p.name = "huge-table-of-" + domain_->name();
    p.max_grant_frames = kMaxGrantFramesCeiling + 1;
    EXPECT_THROW(hypervisor().create_domain(p), Error);
}

TEST_F(GrantTableTest, VersionOneOnlyAndNoStatusFramesNorGuestMaps) {
    gnttab_set_version_t sv{1};
    uint64_t va = put(sv);
    EXPECT_EQ(gnttab(GNTTABOP_set_version, va), 0);
    EXPECT_EQ(get<gnttab_set_version_t>(va).version, 1u);
    sv.version = 2;
    EXPECT_EQ(gnttab(GNTTABOP_set_version, va = put(sv)), -XEN_ENOSYS);
    EXPECT_EQ(get<gnttab_set_version_t>(va).version, 1u);  // reports the version in force
    sv.version = 3;
    EXPECT_EQ(gnttab(GNTTABOP_set_version, put(sv)), -XEN_EINVAL);
    EXPECT_EQ(gnttab(GNTTABOP_set_version, kUnmapped), -XEN_EFAULT);

    gnttab_get_version_t gv{};
    gv.dom = DOMID_SELF;
    EXPECT_EQ(gnttab(GNTTABOP_get_version, va = put(gv)), 0);
    EXPECT_EQ(get<gnttab_get_version_t>(va).version, 1u);
    gv.dom = peer().id();
    EXPECT_EQ(gnttab(GNTTABOP_get_version, put(gv)), -XEN_EPERM);
    gv.dom = kNoSuchDomain;
    EXPECT_EQ(gnttab(GNTTABOP_get_version, put(gv)), -XEN_ESRCH);
    EXPECT_EQ(gnttab(GNTTABOP_get_version, kUpperHalf), -XEN_EFAULT);

    auto status_frames = [&](uint32_t n, uint64_t count = 1) -> long {
        gnttab_get_status_frames_t op{};
        op.dom = DOMID_SELF;
        op.nr_frames = n;
        op.status = 1;
        uint64_t at = put(op);
        long rc = gnttab(GNTTABOP_get_status_frames, at, count);
        return rc < 0 ? rc : get<gnttab_get_status_frames_t>(at).status;
    };
    EXPECT_EQ(status_frames(0), GNTST_okay);
    EXPECT_EQ(status_frames(1), GNTST_general_error);  // v1: there are none
    EXPECT_EQ(status_frames(1, 2), -XEN_EINVAL);

    gnttab_map_grant_ref_t map{};
    EXPECT_EQ(gnttab(GNTTABOP_map_grant_ref, put(map)), -XEN_ENOSYS);
    gnttab_unmap_grant_ref_t unmap{};
    EXPECT_EQ(gnttab(GNTTABOP_unmap_grant_ref, put(unmap)), -XEN_ENOSYS);
    EXPECT_EQ(gnttab(GNTTABOP_transfer, put(map)), -XEN_ENOSYS);
    EXPECT_EQ(gnttab(999, put(map)), -XEN_ENOSYS);
    EXPECT_EQ(gnttab(GNTTABOP_query_size | (1u << 12), put(map)),
              -XEN_EINVAL);  // continuation bits
    EXPECT_EQ(domain_->unknown_hypercalls(__HYPERVISOR_grant_table_op), 0u);
}

// --- GNTTABOP_copy --------------------------------------------------------------------

TEST_F(GrantTableTest, CopyMovesWholePagesBetweenDomainsIntact) {
    const grant_ref_t rx = 8, tx = 9;
    grant(peer(), rx, me(), peer_pfn(0));                     // the peer's receive page
    grant(peer(), tx, me(), peer_pfn(1), /*readonly=*/true);  // and its transmit page
    fill(page(*domain_, my_pfn(0)), 1);
    fill(page(peer(), peer_pfn(1)), 2);
    std::fill_n(page(*domain_, my_pfn(1)), kPageSize, 0);

    // Ours -> the peer's grant, then the peer's read-only grant -> ours.
    EXPECT_EQ(
        copy(copy_op(GNTCOPY_dest_gref, my_pfn(0), DOMID_SELF, 0, rx, peer().id(), 0, kPageSize)),
        GNTST_okay);
    EXPECT_EQ(checksum(page(peer(), peer_pfn(0)), kPageSize),
              checksum(page(*domain_, my_pfn(0)), kPageSize));
    EXPECT_EQ(
        copy(copy_op(GNTCOPY_source_gref, tx, peer().id(), 0, my_pfn(1), DOMID_SELF, 0, kPageSize)),
        GNTST_okay);
    EXPECT_EQ(checksum(page(*domain_, my_pfn(1)), kPageSize),
              checksum(page(peer(), peer_pfn(1)), kPageSize));
    // The flags were set only while copying.
    EXPECT_EQ(flags(peer(), rx), GTF_permit_access);
    EXPECT_EQ(flags(peer(), tx), GTF_permit_access | GTF_readonly);
    EXPECT_EQ(peer().grant_table().pins(rx), 0u);

    // Grant to grant, at offsets, and the other way round: the peer copies from our grant.
    EXPECT_EQ(copy(copy_op(GNTCOPY_source_gref | GNTCOPY_dest_gref, tx, peer().id(), 100, rx,
                           peer().id(), 3000, 1000)),
              GNTST_okay);
    EXPECT_EQ(checksum(page(peer(), peer_pfn(0)) + 3000, 1000),
              checksum(page(peer(), peer_pfn(1)) + 100, 1000));
    grant(*domain_, 20, peer().id(), my_pfn(2), true);
    fill(page(*domain_, my_pfn(2)), 3);
    uint64_t va =
        peer_put(copy_op(GNTCOPY_source_gref, 20, me(), 0, peer_pfn(2), DOMID_SELF, 0, kPageSize));
    ASSERT_EQ(gnttab_as_peer(GNTTABOP_copy, va), 0);
    EXPECT_EQ(peer().memory().read<gnttab_copy_t>(va)->status, GNTST_okay);
    EXPECT_EQ(checksum(page(peer(), peer_pfn(2)), kPageSize),
              checksum(page(*domain_, my_pfn(2)), kPageSize));
    // A domain may copy through its own grant (to itself), named as DOMID_SELF.
    grant(*domain_, 21, me(), my_pfn(3));
    EXPECT_EQ(
        copy(copy_op(GNTCOPY_dest_gref, my_pfn(2), DOMID_SELF, 0, 21, DOMID_SELF, 0, kPageSize)),
        GNTST_okay);
    EXPECT_EQ(checksum(page(*domain_, my_pfn(3)), kPageSize),
              checksum(page(*domain_, my_pfn(2)), kPageSize));
}

TEST_F(GrantTableTest, CopyBatchesReportStatusPerSegment) {
    grant(peer(), 8, me(), peer_pfn(0));
    fill(page(*domain_, my_pfn(0)), 7);
    std::array<gnttab_copy_t, 4> ops = {
        copy_op(GNTCOPY_dest_gref, my_pfn(0), DOMID_SELF, 0, 8, peer().id(), 0, 2048),
        copy_op(GNTCOPY_dest_gref, my_pfn(0), DOMID_SELF, 0, 4096, peer().id(), 0, 16),  // bad ref
        copy_op(GNTCOPY_dest_gref, my_pfn(0), DOMID_SELF, 2048, 8, peer().id(), 2048, 2048),
        copy_op(GNTCOPY_dest_gref, my_pfn(0), DOMID_SELF, 0, 8, kNoSuchDomain, 0, 16),
    };
    uint64_t va = put(ops);
    ASSERT_EQ(gnttab(GNTTABOP_copy, va, ops.size()), 0);
    auto out = get<std::array<gnttab_copy_t, 4>>(va);
    EXPECT_EQ(out[0].status, GNTST_okay);
    EXPECT_EQ(out[1].status, GNTST_bad_gntref);
    EXPECT_EQ(out[2].status, GNTST_okay);
    EXPECT_EQ(out[3].status, GNTST_bad_domain);
    EXPECT_EQ(checksum(page(peer(), peer_pfn(0)), kPageSize),
              checksum(page(*domain_, my_pfn(0)), kPageSize));
    EXPECT_EQ(out[0].len, 2048);  // only the status field is written back
}

TEST_F(GrantTableTest, CopyMisuseFailsWithXensStatusAndLeavesEntriesAlone) {
    const domid_t p = peer().id();
    const grant_ref_t ok = 8;
    grant(peer(), ok, me(), peer_pfn(0));
    fill(page(peer(), peer_pfn(0)), 9);
    // Of all these, only the okay copy to offset 4032 writes to the peer's page.
    const uint64_t before = checksum(page(peer(), peer_pfn(0)), 4032);
    auto to_peer = [&](grant_ref_t ref, uint16_t dst_off = 0, uint16_t len = 64) {
        return copy(copy_op(GNTCOPY_dest_gref, my_pfn(0), DOMID_SELF, 0, ref, p, dst_off, len));
    };
    auto from_peer = [&](grant_ref_t ref, uint16_t src_off = 0, uint16_t len = 64) {
        return copy(copy_op(GNTCOPY_source_gref, ref, p, src_off, my_pfn(0), DOMID_SELF, 0, len));
    };

    // Refs past the table, entries for someone else, not granting access, revoked.
    EXPECT_EQ(from_peer(kDefaultGrantFrames * kGrantEntriesPerFrame), GNTST_bad_gntref);
    EXPECT_EQ(from_peer(~grant_ref_t{0}), GNTST_bad_gntref);
    grant(peer(), 9, kNoSuchDomain, peer_pfn(0));
    EXPECT_EQ(from_peer(9), GNTST_general_error);
    EXPECT_EQ(from_peer(10), GNTST_general_error);  // never granted: flags 0
    entry(peer(), 11) = {static_cast<uint16_t>(GTF_accept_transfer), me(),
                         static_cast<uint32_t>(peer_pfn(0))};
    EXPECT_EQ(from_peer(11), GNTST_general_error);
    grant(peer(), 12, me(), peer_pfn(0));
    ASSERT_TRUE(end_foreign_access(peer(), 12));  // the guest revokes it
    EXPECT_EQ(from_peer(12), GNTST_general_error);
    // Read-only grants are sources only.
    grant(peer(), 13, me(), peer_pfn(0), true);
    EXPECT_EQ(to_peer(13), GNTST_general_error);
    EXPECT_EQ(from_peer(13), GNTST_okay);
    // A granted frame outside the granter's RAM.
    grant(peer(), 14, me(), kMemory >> kPageShift);
    EXPECT_EQ(from_peer(14), GNTST_bad_page);
    EXPECT_EQ(flags(peer(), 14), GTF_permit_access);  // and the flags were put back

    // Offsets and lengths stay within one page.
    EXPECT_EQ(to_peer(ok, 4000, 97), GNTST_bad_copy_arg);
    EXPECT_EQ(from_peer(ok, 4095, 2), GNTST_bad_copy_arg);
    EXPECT_EQ(from_peer(ok, 0xffff, 1), GNTST_bad_copy_arg);
    EXPECT_EQ(copy(copy_op(0, my_pfn(1), DOMID_SELF, 0, my_pfn(0), DOMID_SELF, 1, 4096)),
              GNTST_bad_copy_arg);
    EXPECT_EQ(to_peer(ok, 4032, 64), GNTST_okay);  // exactly to the end is fine
    EXPECT_EQ(to_peer(ok, 0, 0), GNTST_okay);      // nothing to copy is always fine

    // Domains: a grant must name an existing domain; frames only the caller's, as DOMID_SELF.
    EXPECT_EQ(copy(copy_op(GNTCOPY_source_gref, ok, kNoSuchDomain, 0, my_pfn(0), DOMID_SELF, 0, 8)),
              GNTST_bad_domain);
    EXPECT_EQ(copy(copy_op(GNTCOPY_source_gref, ok, 0, 0, my_pfn(0), DOMID_SELF, 0, 8)),
              GNTST_bad_domain);  // domid 0 is the host side, not a domain with a table
    EXPECT_EQ(copy(copy_op(0, peer_pfn(0), p, 0, my_pfn(0), DOMID_SELF, 0, 8)),
              GNTST_permission_denied);
    EXPECT_EQ(copy(copy_op(0, my_pfn(1), me(), 0, my_pfn(0), DOMID_SELF, 0, 8)),
              GNTST_permission_denied);
    EXPECT_EQ(copy(copy_op(GNTCOPY_source_gref, ok, p, 0, my_pfn(0), DOMID_SELF, 0, 8)),
              GNTST_okay);
    EXPECT_EQ(copy(copy_op(0, kMemory >> kPageShift, DOMID_SELF, 0, my_pfn(0), DOMID_SELF, 0, 8)),
              GNTST_bad_page);
    EXPECT_EQ(copy(copy_op(GNTCOPY_source_gref, ok, p, 0, ~uint64_t{0}, DOMID_SELF, 0, 8)),
              GNTST_bad_page);
    // A copy from a grant by someone it is not granted to: the peer using its own ref 8
    // (granted to us, not to itself).
    uint64_t va =
        peer_put(copy_op(GNTCOPY_source_gref, ok, DOMID_SELF, 0, peer_pfn(3), DOMID_SELF, 0, 8));
    ASSERT_EQ(gnttab_as_peer(GNTTABOP_copy, va), 0);
    EXPECT_EQ(peer().memory().read<gnttab_copy_t>(va)->status, GNTST_general_error);

    // Whole-call errors: pointers, batch size.
    for (uint64_t bad : {kUnmapped, kBeyondRam, kUpperHalf, kMemory - 8})
        EXPECT_EQ(gnttab(GNTTABOP_copy, bad), -XEN_EFAULT) << bad;
    EXPECT_EQ(gnttab(GNTTABOP_copy, kUnmapped, 0), 0);  // nothing to read
    EXPECT_EQ(gnttab(GNTTABOP_copy, put(copy_op(0, 0, 0, 0, 0, 0, 0, 0)), 1025), -XEN_EINVAL);
    EXPECT_EQ(gnttab(GNTTABOP_copy, put(copy_op(0, 0, 0, 0, 0, 0, 0, 0)), uint64_t{1} << 32),
              -XEN_EINVAL);

    // Failed copies wrote nothing and left no flags or pins behind.
    EXPECT_EQ(checksum(page(peer(), peer_pfn(0)), 4032), before);
    for (grant_ref_t r : {ok, grant_ref_t{9}, grant_ref_t{13}, grant_ref_t{14}}) {
        EXPECT_EQ(flags(peer(), r) & (GTF_reading | GTF_writing), 0) << r;
        EXPECT_EQ(peer().grant_table().pins(r), 0u) << r;
    }
}

// --- Host-side mappings for backends ----------------------------------------------------

TEST_F(GrantTableTest, AMappedGrantCannotBeRevokedUntilTheLastUnmap) {
    const domid_t backend = 0;  // the host side
    grant(peer(), 8, backend, peer_pfn(0));
    fill(page(peer(), peer_pfn(0)), 5);
    GrantTable& table = peer().grant_table();

    GrantMapping rw = table.map(8, backend, false);
    ASSERT_TRUE(rw) << rw.status();
    ASSERT_EQ(rw.page().size(), kPageSize);
    ASSERT_EQ(rw.writable_page().size(), kPageSize);
    EXPECT_EQ(checksum(rw.page().data(), kPageSize),
              checksum(page(peer(), peer_pfn(0)), kPageSize));
    rw.writable_page()[17] = 0x5a;
    EXPECT_EQ(page(peer(), peer_pfn(0))[17], 0x5a);  // the guest's own page, not a copy
    EXPECT_EQ(flags(peer(), 8), GTF_permit_access | GTF_reading | GTF_writing);
    EXPECT_FALSE(end_foreign_access(peer(), 8));

    GrantMapping ro = table.map(8, backend, true);
    ASSERT_TRUE(ro);
    EXPECT_TRUE(ro.writable_page().empty());
    EXPECT_EQ(table.pins(8), 2u);
    // Only the domain it was granted to may add pins, even while pinned.
    EXPECT_EQ(table.map(8, me(), true).status(), GNTST_general_error);

    GrantMapping moved = std::move(rw);  // move-only: the pin moves with it
    EXPECT_FALSE(rw);
    EXPECT_EQ(table.pins(8), 2u);
    moved.reset();  // the last writer goes: GTF_writing clears, GTF_reading stays
    EXPECT_EQ(flags(peer(), 8), GTF_permit_access | GTF_reading);
    EXPECT_FALSE(end_foreign_access(peer(), 8));
    ro = GrantMapping();  // assigning over a mapping unmaps it
    EXPECT_EQ(table.pins(8), 0u);
    EXPECT_EQ(flags(peer(), 8), GTF_permit_access);
    EXPECT_TRUE(end_foreign_access(peer(), 8));
    EXPECT_EQ(table.map(8, backend, true).status(), GNTST_general_error);  // revoked now

    // A read-only grant maps read-only only; a bad ref says so.
    grant(peer(), 9, backend, peer_pfn(1), true);
    EXPECT_EQ(table.map(9, backend, false).status(), GNTST_general_error);
    EXPECT_EQ(flags(peer(), 9), GTF_permit_access | GTF_readonly);
    {
        GrantMapping r = table.map(9, backend, true);
        EXPECT_TRUE(r);
        EXPECT_EQ(table.map(9, backend, false).status(), GNTST_general_error);  // no upgrade
        EXPECT_EQ(flags(peer(), 9), GTF_permit_access | GTF_readonly | GTF_reading);
    }
    EXPECT_EQ(flags(peer(), 9), GTF_permit_access | GTF_readonly);
    EXPECT_EQ(table.map(kDefaultGrantFrames * kGrantEntriesPerFrame, backend, true).status(),
              GNTST_bad_gntref);
    // While pinned the entry is shadowed: the guest rewriting its frame does not move the
    // mapping (Xen's active entry).
    grant(peer(), 10, backend, peer_pfn(2));
    GrantMapping m = table.map(10, backend, true);
    entry(peer(), 10).frame = static_cast<uint32_t>(peer_pfn(3));
    GrantMapping m2 = table.map(10, backend, true);
    EXPECT_EQ(m2.page().data(), page(peer(), peer_pfn(2)));
}

TEST_F(GrantTableTest, CopiesAndMappingsShareThePinCount) {
    grant(peer(), 8, me(), peer_pfn(0));
    GrantMapping m = peer().grant_table().map(8, me(), true);
    ASSERT_TRUE(m);
    // A copy into the same entry adds (then drops) a writer while the reader stays.
    EXPECT_EQ(copy(copy_op(GNTCOPY_dest_gref, my_pfn(0), DOMID_SELF, 0, 8, peer().id(), 0, 64)),
              GNTST_okay);
    EXPECT_EQ(flags(peer(), 8), GTF_permit_access | GTF_reading);
    EXPECT_EQ(peer().grant_table().pins(8), 1u);
}

TEST_F(GrantTableTest, ConcurrentMapsAndUnmapsBalance) {
    grant(peer(), 8, 0, peer_pfn(0));
    GrantTable& table = peer().grant_table();
    std::atomic<int> failures{0};
    auto worker = [&](bool readonly) {
        for (int i = 0; i < 2000; ++i) {
            GrantMapping m = table.map(8, 0, readonly);
            if (!m || m.page().size() != kPageSize) ++failures;
        }
    };
    std::thread a(worker, true), b(worker, false), c(worker, true);
    a.join();
    b.join();
    c.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(table.pins(8), 0u);
    EXPECT_EQ(flags(peer(), 8), GTF_permit_access);
}

// --- Live migration's host write log (hv/page_log.hpp) -----------------------------------

// The pages the write log of `d` holds, taken (and so cleared).
static std::vector<uint64_t> written_pages(Domain& d) {
    std::vector<uint64_t> bitmap((d.memory().nr_pages() + 63) / 64);
    d.memory().written().take(bitmap);
    std::vector<uint64_t> pfns;
    for (uint64_t p = 0; p < d.memory().nr_pages(); ++p)
        if (bitmap[p / 64] >> (p % 64) & 1) pfns.push_back(p);
    return pfns;
}

TEST_F(GrantTableTest, HostWritesOnAGuestsBehalfAreLoggedOnlyWhileTheLogRuns) {
    const grant_ref_t rx = 8;
    grant(peer(), rx, me(), peer_pfn(0));
    // Off: nothing is logged.
    ASSERT_EQ(
        copy(copy_op(GNTCOPY_dest_gref, my_pfn(0), DOMID_SELF, 0, rx, peer().id(), 0, kPageSize)),
        GNTST_okay);
    peer().memory().written().start();
    EXPECT_TRUE(written_pages(peer()).empty());

    // A copy into its grant, and a copy it makes into its own frame (DOMID_SELF).
    ASSERT_EQ(
        copy(copy_op(GNTCOPY_dest_gref, my_pfn(0), DOMID_SELF, 0, rx, peer().id(), 0, kPageSize)),
        GNTST_okay);
    EXPECT_EQ(written_pages(peer()), std::vector<uint64_t>{peer_pfn(0)});
    grant(*domain_, 20, peer().id(), my_pfn(2), true);
    uint64_t va =
        peer_put(copy_op(GNTCOPY_source_gref, 20, me(), 0, peer_pfn(2), DOMID_SELF, 0, kPageSize));
    ASSERT_EQ(gnttab_as_peer(GNTTABOP_copy, va), 0);
    // The frame copied into, and the page the copy's status went to (peer_put's scratch).
    std::vector<uint64_t> got = written_pages(peer());
    EXPECT_NE(std::find(got.begin(), got.end(), peer_pfn(2)), got.end());
    EXPECT_NE(std::find(got.begin(), got.end(), va >> kPageShift), got.end());
    EXPECT_TRUE(written_pages(peer()).empty());  // taking clears

    // A backend's writable mapping marks its page as it goes; a read-only one never does.
    GrantTable& table = peer().grant_table();
    const grant_ref_t to_backend = 9;
    grant(peer(), to_backend, 0, peer_pfn(3));
    written_pages(peer());  // the grant entry's page, written by the guest itself
    {
        GrantMapping ro = table.map(to_backend, 0, true);
        ASSERT_TRUE(ro) << ro.status();
    }
    EXPECT_TRUE(written_pages(peer()).empty());
    GrantMapping rw = table.map(to_backend, 0, false);
    ASSERT_TRUE(rw) << rw.status();
    rw.writable_page()[0] = 1;
    // While it is held, the page is one the host may be writing: marked on request, with
    // the table's frames (whose flags the host sets).
    peer().mark_live_writes();
    got = written_pages(peer());
    EXPECT_NE(std::find(got.begin(), got.end(), peer_pfn(3)), got.end());
    const uint64_t frame0 = peer().grant_table().frame_list(1).at(0);
    EXPECT_NE(std::find(got.begin(), got.end(), frame0), got.end());
    rw.reset();
    EXPECT_EQ(written_pages(peer()), std::vector<uint64_t>{peer_pfn(3)});
    peer().memory().written().stop();
}

TEST_F(GrantTableTest, AGranterDestroyedWhileMappedStaysMemorySafe) {
    grant(peer(), 8, 0, peer_pfn(0));
    fill(page(peer(), peer_pfn(0)), 11);
    const uint64_t sum = checksum(page(peer(), peer_pfn(0)), kPageSize);
    GrantMapping m = peer().grant_table().map(8, 0, false);
    ASSERT_TRUE(m);
    std::span<uint8_t> held = m.writable_page();  // a backend that kept the span
    const domid_t id = peer().id();

    ASSERT_TRUE(hypervisor().destroy_domain(id));
    EXPECT_FALSE(m.valid());  // the mapping knows its granter is gone...
    EXPECT_TRUE(m.page().empty());
    EXPECT_EQ(peer().grant_table().map(8, 0, true).status(), GNTST_bad_domain);
    EXPECT_EQ(copy(copy_op(GNTCOPY_source_gref, 8, id, 0, my_pfn(0), DOMID_SELF, 0, 8)),
              GNTST_bad_domain);
    peer_.domain.reset();  // the last reference: the Domain and its KVM VM are gone

    // ...and what it handed out is still mapped memory, not freed (ASan would tell).
    EXPECT_EQ(checksum(held.data(), kPageSize), sum);
    held[0] ^= 0xff;
    m.reset();  // unmapping after the granter's death is harmless
    EXPECT_FALSE(m);
}

}  // namespace
}  // namespace xenolith::hv::testing
