// The console and xenstore rings as Xen's toolstack offers them to Domain-0's backends, for
// PV and PVH guests alike: an unbound event channel for domid 0, and the ring's reserved
// grant entry (GNTTAB_RESERVED_CONSOLE/XENSTORE) in grant frame 0, through which the
// backend maps the page (xc_dom_gnttab_seed).
#pragma once

#include <cstdint>
#include <string>

#include "abi/xen.hpp"
#include "hv/domain.hpp"

namespace xenolith::boot {

// Seeds entry `ref` of the grant frame at guest-physical `grant_frame0` with the ring page
// at `ring` for domid 0, and returns the new port. Throws Error ("<image>: no event channel
// left for the <what>") when the domain has no port left.
uint32_t offer_ring(hv::Domain& domain, uint64_t grant_frame0, uint64_t ring, grant_ref_t ref,
                    const std::string& image, const char* what);

}  // namespace xenolith::boot
