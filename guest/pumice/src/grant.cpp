// Grant tables v1 (pumice/grant.hpp): the table, a free list of refs, Xen's grant and
// revoke protocol, GNTTABOP_copy.
#include <pumice/grant.hpp>
#include <pumice/pumice.hpp>

namespace pumice::grant {
namespace {

constexpr uint32_t kEntriesPerFrame = mem::kPageSize / sizeof(grant_entry_v1_t);
// setup_table's frame list lives on the stack: more than the builder's 4 are not needed.
constexpr uint32_t kMaxFrames = 64;

SpinLock g_lock;                      // the free list and initialisation
grant_entry_v1_t* g_frames[kMaxFrames];  // frame i holds refs [i*512, (i+1)*512)
uint32_t g_nr_entries;                // 0 until init() succeeded (written last, release)
// The free list, as Mini-OS's gnttab_list: g_next[ref] is the next free ref; kEnd ends it.
constexpr uint32_t kEnd = ~0u;
uint32_t* g_next;
uint32_t g_free_head = kEnd;
bool* g_in_use;  // refs handed out by grant_access and not yet ended

uint32_t entries() {
    return __atomic_load_n(&g_nr_entries, __ATOMIC_ACQUIRE);
}

grant_entry_v1_t& entry(grant_ref_t ref) {
    return g_frames[ref / kEntriesPerFrame][ref % kEntriesPerFrame];
}

long init_locked() {
    if (g_nr_entries) return 0;
    gnttab_query_size_t query{};
    query.dom = DOMID_SELF;
    long rc = hv::grant_table_op(GNTTABOP_query_size, &query, 1);
    if (rc) return rc;
    if (query.status != GNTST_okay) return -XEN_EINVAL;
    uint32_t nr = query.nr_frames;
    if (nr == 0) return -XEN_ENOSYS;
    if (nr > kMaxFrames) nr = kMaxFrames;

    xen_pfn_t frames[kMaxFrames];
    gnttab_setup_table_t setup{};
    setup.dom = DOMID_SELF;
    setup.nr_frames = nr;
    set_xen_guest_handle(setup.frame_list, frames);
    rc = hv::grant_table_op(GNTTABOP_setup_table, &setup, 1);
    if (rc) return rc;
    if (setup.status != GNTST_okay) return -XEN_EINVAL;

    const start_info_t& si = xen_start_info();
    for (uint32_t i = 0; i < nr; ++i) {
        if (frames[i] == 0 || frames[i] >= si.nr_pages) return -XEN_EFAULT;
        // Auto-translated: the frame is a guest pfn, mapped at VA = PA.
        g_frames[i] = reinterpret_cast<grant_entry_v1_t*>(frames[i] * mem::kPageSize);
    }
    uint32_t total = nr * kEntriesPerFrame;
    auto* next = static_cast<uint32_t*>(malloc(total * sizeof(uint32_t)));
    auto* in_use = static_cast<bool*>(calloc(total, sizeof(bool)));
    if (!next || !in_use) {
        free(next);
        free(in_use);
        return -XEN_ENOMEM;
    }
    // Lowest refs first, from the first non-reserved one.
    for (uint32_t ref = GNTTAB_NR_RESERVED_ENTRIES; ref < total; ++ref)
        next[ref] = ref + 1 < total ? ref + 1 : kEnd;
    g_next = next;
    g_in_use = in_use;
    g_free_head = GNTTAB_NR_RESERVED_ENTRIES < total ? GNTTAB_NR_RESERVED_ENTRIES : kEnd;
    __atomic_store_n(&g_nr_entries, total, __ATOMIC_RELEASE);
    return 0;
}

}  // namespace

long init() {
    if (entries()) return 0;
    IrqSpinGuard guard(g_lock);
    return init_locked();
}

uint32_t nr_entries() {
    return entries();
}

long grant_access(domid_t domid, xen_pfn_t pfn, bool readonly) {
    if (long rc = init()) return rc;
    if (pfn > UINT32_MAX) return -XEN_EINVAL;  // v1 frames are 32-bit
    grant_ref_t ref;
    {
        IrqSpinGuard guard(g_lock);
        if (g_free_head == kEnd) return -XEN_ENOSPC;
        ref = g_free_head;
        g_free_head = g_next[ref];
        g_in_use[ref] = true;
    }
    grant_entry_v1_t& e = entry(ref);
    e.frame = static_cast<uint32_t>(pfn);
    e.domid = domid;
    // wmb(): the peer (or the hypervisor) must see frame and domid before the flags that
    // make the entry valid (Linux gnttab_update_entry_v1, Mini-OS gnttab_grant_access).
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&e.flags, static_cast<uint16_t>(GTF_permit_access | (readonly ? GTF_readonly : 0)),
                     __ATOMIC_RELEASE);
    return ref;
}

long end_access(grant_ref_t ref) {
    uint32_t total = entries();
    if (ref < GNTTAB_NR_RESERVED_ENTRIES || ref >= total) return -XEN_EINVAL;
    {
        IrqSpinGuard guard(g_lock);
        if (!g_in_use[ref]) return -XEN_EINVAL;
    }
    grant_entry_v1_t& e = entry(ref);
    uint16_t old = __atomic_load_n(&e.flags, __ATOMIC_ACQUIRE);
    do {
        if (old & (GTF_reading | GTF_writing)) return -XEN_EBUSY;
    } while (!__atomic_compare_exchange_n(&e.flags, &old, uint16_t{0}, false, __ATOMIC_SEQ_CST,
                                          __ATOMIC_ACQUIRE));
    IrqSpinGuard guard(g_lock);
    g_in_use[ref] = false;
    g_next[ref] = g_free_head;
    g_free_head = ref;
    return 0;
}

uint16_t flags(grant_ref_t ref) {
    if (ref >= entries()) return 0;
    return __atomic_load_n(&entry(ref).flags, __ATOMIC_ACQUIRE);
}

long copy(gnttab_copy_t* ops, unsigned count) {
    return hv::grant_table_op(GNTTABOP_copy, ops, count);
}

int16_t copy(gnttab_copy_t& op) {
    long rc = copy(&op, 1);
    return rc ? static_cast<int16_t>(GNTST_general_error) : op.status;
}

}  // namespace pumice::grant
