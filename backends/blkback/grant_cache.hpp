// The data pages of requests, mapped through the frontend's grants. With feature-persistent
// the frontend reuses a fixed set of grants for the connection's life, so (as Linux blkback
// does) up to a limit of them stay mapped, keyed by reference, and later requests naming
// them map nothing; beyond the limit, and without the feature, a request's pages are mapped
// for that request alone and unmapped when it completes.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "abi/xen.hpp"
#include "hv/grant_table.hpp"

namespace xenolith::blkback {

class GrantCache {
  public:
    GrantCache(hv::GrantTable& table, bool persistent, uint32_t max_persistent)
        : table_(table), persistent_(persistent), max_persistent_(max_persistent) {}

    // The granted page (4 KiB), writable when `writable` is asked for, or nullptr (and the
    // GNTST_* reason in `status`): not granted to the backend, read-only where writing is
    // needed, or the domain is gone. Mappings not kept persistently are appended to `held`,
    // which the caller keeps until the I/O on the page has completed.
    uint8_t* map(grant_ref_t ref, bool writable, std::vector<hv::GrantMapping>& held,
                 int16_t& status);

    size_t persistent_count() const { return cache_.size(); }

  private:
    struct Kept {
        hv::GrantMapping readonly;
        hv::GrantMapping writable;  // added when a request first needs to write the page
    };
    static uint8_t* page_of(const hv::GrantMapping& m, bool writable);

    hv::GrantTable& table_;
    bool persistent_;
    uint32_t max_persistent_;
    std::unordered_map<grant_ref_t, Kept> cache_;
};

}  // namespace xenolith::blkback
