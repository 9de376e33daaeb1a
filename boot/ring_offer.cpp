#include "boot/ring_offer.hpp"

#include "base/error.hpp"

namespace xenolith::boot {

uint32_t offer_ring(hv::Domain& domain, uint64_t grant_frame0, uint64_t ring, grant_ref_t ref,
                    const std::string& image, const char* what) {
    long port = domain.evtchn().alloc_unbound(0);
    if (port < 0) throw Error(image + ": no event channel left for the " + what);
    grant_entry_v1_t grant{};
    grant.flags = GTF_permit_access;
    grant.domid = 0;
    grant.frame = static_cast<uint32_t>(ring >> hv::kPageShift);
    domain.memory().write(grant_frame0 + ref * sizeof(grant_entry_v1_t), grant);
    return static_cast<uint32_t>(port);
}

}  // namespace xenolith::boot
