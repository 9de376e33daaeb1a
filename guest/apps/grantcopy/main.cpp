// grantcopy: two domains share a page through the grant table and GNTTABOP_copy.
//
//   role=granter peer=<domid> [seed=] [wait_ms=]
//        fills a page with a pattern, grants it read-only to the peer, prints
//        `grantcopy: ref=<r> checksum=<x>`, then waits up to `wait_ms` (10000) or until a
//        console line `done`, revokes the grant (`grantcopy: end_access rc=<rc>`), exits 0
//   role=copier peer=<domid> ref=<r>
//        copies the peer's page into its own, prints `grantcopy: copied checksum=<x>`, then
//        the misuse checks as `grantcopy: misuse <name> status=<GNTST value>`; exits 0
#include <pumice/pumice.hpp>

#include "common/page_pattern.hpp"

using namespace pumice;

namespace {

constexpr uint32_t kPage = mem::kPageSize;

xen_pfn_t pfn_of(const void* p) {
    return reinterpret_cast<uintptr_t>(p) / kPage;  // VA = PA, auto-translated
}

// Waits up to wait_ms, returning early on a console line `done`.
void wait_for_done(uint64_t wait_ms) {
    uint64_t deadline = time::now_ns() + wait_ms * time::kNsPerMs;
    char line[64];
    size_t len = 0;
    while (time::now_ns() < deadline) {
        char c;
        while (console::read(&c, 1) == 1) {
            if (c == '\r') continue;
            if (c == '\n') {
                line[len] = '\0';
                if (strcmp(line, "done") == 0) return;
                len = 0;
            } else if (len + 1 < sizeof(line)) {
                line[len++] = c;
            }
        }
        sleep_ns(10 * time::kNsPerMs);
    }
}

int granter(domid_t peer) {
    auto* page = static_cast<uint8_t*>(mem::alloc_pages(1));
    if (!page) {
        printf("grantcopy: out of memory\n");
        return 1;
    }
    xenolith_common::fill_pattern(page, kPage, static_cast<uint32_t>(cmdline::get_u64("seed", 1)));
    long ref = grant::grant_access(peer, pfn_of(page), true);
    if (ref < 0) {
        printf("grantcopy: grant_access failed: %ld\n", ref);
        return 1;
    }
    printf("grantcopy: ref=%ld checksum=%x\n", ref, xenolith_common::checksum(page, kPage));
    wait_for_done(cmdline::get_u64("wait_ms", 10000));
    long rc = grant::end_access(static_cast<grant_ref_t>(ref));
    printf("grantcopy: end_access rc=%ld\n", rc);
    if (rc == 0) mem::free_pages(page, 1);  // never reuse a page a peer may still reach
    return 0;
}

gnttab_copy_t copy_op(domid_t peer, grant_ref_t ref, void* dest) {
    gnttab_copy_t op{};
    op.source.u.ref = ref;
    op.source.domid = peer;
    op.dest.u.gmfn = pfn_of(dest);
    op.dest.domid = DOMID_SELF;
    op.len = kPage;
    op.flags = GNTCOPY_source_gref;
    return op;
}

int copier(domid_t peer, grant_ref_t ref) {
    auto* page = static_cast<uint8_t*>(mem::alloc_pages(1));
    if (!page) {
        printf("grantcopy: out of memory\n");
        return 1;
    }
    memset(page, 0, kPage);
    gnttab_copy_t op = copy_op(peer, ref, page);
    int16_t st = grant::copy(op);
    if (st != GNTST_okay) {
        printf("grantcopy: copy failed status=%d\n", st);
        return 1;
    }
    printf("grantcopy: copied checksum=%x\n", xenolith_common::checksum(page, kPage));

    auto misuse = [](const char* name, gnttab_copy_t o) {
        printf("grantcopy: misuse %s status=%d\n", name, grant::copy(o));
    };
    gnttab_copy_t bad_ref = copy_op(peer, ref, page);
    bad_ref.source.u.ref = 1000000;
    misuse("bad_ref", bad_ref);
    gnttab_copy_t bad_len = copy_op(peer, ref, page);
    bad_len.source.offset = 1;  // 1 + 4096 bytes: past the page
    misuse("bad_len", bad_len);
    gnttab_copy_t bad_domain = copy_op(static_cast<domid_t>(cmdline::get_u64("bad_domid", 32000)), ref, page);
    misuse("bad_domain", bad_domain);
    // The grant is read-only: writing through it is refused.
    gnttab_copy_t readonly{};
    readonly.source.u.gmfn = pfn_of(page);
    readonly.source.domid = DOMID_SELF;
    readonly.dest.u.ref = ref;
    readonly.dest.domid = peer;
    readonly.len = kPage;
    readonly.flags = GNTCOPY_dest_gref;
    misuse("readonly_dest", readonly);
    mem::free_pages(page, 1);
    return 0;
}

}  // namespace

int main() {
    const auto peer = static_cast<domid_t>(cmdline::get_u64("peer", 0));
    const char* role = cmdline::get_str("role", nullptr);
    if (!role || peer == 0) {
        printf("grantcopy: need role=granter|copier and peer=<domid>\n");
        return 2;
    }
    if (strcmp(role, "granter") == 0) return granter(peer);
    if (strcmp(role, "copier") == 0)
        return copier(peer, static_cast<grant_ref_t>(cmdline::get_u64("ref", 0)));
    printf("grantcopy: unknown role '%s'\n", role);
    return 2;
}
