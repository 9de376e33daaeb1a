// The frontend's blkif shared ring in the backend: 1 or 2^order granted pages, each pinned
// through the grant table, and seen as one contiguous blkif_sring. The pages need not be
// contiguous in the guest, so the daemon maps each one from the domain's memfd at
// consecutive addresses of a window of its own (ring entries straddle page boundaries).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backends/blkback/blkif.hpp"
#include "base/mapping.hpp"
#include "hv/domain.hpp"
#include "hv/grant_table.hpp"

namespace xenolith::blkback {

class SharedRing {
  public:
    // Pins and maps `refs` (writable), in order. Throws Error naming `name` and the
    // reference that cannot be mapped, or the count when it is not a power of two within
    // 2^max_order.
    SharedRing(hv::Domain& domain, std::span<const grant_ref_t> refs, uint32_t max_order,
               const std::string& name);

    blkif_sring* sring() const { return reinterpret_cast<blkif_sring*>(window_.data()); }
    size_t bytes() const { return window_.size(); }

  private:
    std::vector<hv::GrantMapping> pins_;  // keep the frontend from revoking the pages
    Mapping window_;
};

}  // namespace xenolith::blkback
