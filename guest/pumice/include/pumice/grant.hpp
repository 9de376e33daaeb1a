// Grant tables, version 1 (docs/guest-abi.md, "Grant tables"): offering our pages to other
// domains and copying through theirs with GNTTABOP_copy.
//
// The table is found with GNTTABOP_query_size and GNTTABOP_setup_table on first use; the
// domain is auto-translated, so the frames it names are guest pfns, mapped at VA = PA.
// Refs 0..GNTTAB_NR_RESERVED_ENTRIES-1 belong to the toolstack (console, xenstore) and are
// never handed out. Every function is SMP-safe and may be called with events masked.
#pragma once

#include <pumice/xen.hpp>

namespace pumice::grant {

// Sets the table up (idempotent; the other functions call it). 0 or a negative Xen errno.
long init();
// How many refs the table holds (0 before a successful init()).
uint32_t nr_entries();

// Grants `domid` access to our page `pfn` (read-only if `readonly`): writes the entry's
// frame and domid, then, after a write barrier, its flags. Returns the ref (>=
// GNTTAB_NR_RESERVED_ENTRIES) or a negative Xen errno (-XEN_ENOSPC: no free ref).
long grant_access(domid_t domid, xen_pfn_t pfn, bool readonly);

// Xen's gnttab_end_foreign_access_ref: clears the entry's flags with a compare-and-swap
// that fails while GTF_reading or GTF_writing is set (the peer is copying through it, or a
// backend has it mapped). On success the ref is free again and 0 is returned; otherwise
// -XEN_EBUSY and the grant stays, so retry later. -XEN_EINVAL for a ref we never gave out.
long end_access(grant_ref_t ref);

// The entry's current flags (for diagnostics and tests).
uint16_t flags(grant_ref_t ref);

// GNTTABOP_copy over `count` ops (at most 1024); each op's `status` is written back.
// Returns the hypercall's result (0, or a negative Xen errno when no op was looked at).
long copy(gnttab_copy_t* ops, unsigned count);
// One op: its status (GNTST_*), or GNTST_general_error if the hypercall itself failed.
int16_t copy(gnttab_copy_t& op);

}  // namespace pumice::grant
