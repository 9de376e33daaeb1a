#include "backends/blkback/grant_cache.hpp"

namespace xenolith::blkback {

uint8_t* GrantCache::page_of(const hv::GrantMapping& m, bool writable) {
    // Empty once the granting domain is gone: the request then fails.
    return writable ? m.writable_page().data() : const_cast<uint8_t*>(m.page().data());
}

uint8_t* GrantCache::map(grant_ref_t ref, bool writable, std::vector<hv::GrantMapping>& held,
                         int16_t& status) {
    status = GNTST_okay;
    Kept* kept = nullptr;
    if (persistent_) {
        auto it = cache_.find(ref);
        if (it != cache_.end())
            kept = &it->second;
        else if (cache_.size() < max_persistent_)
            kept = &cache_[ref];
    }
    hv::GrantMapping* slot = nullptr;
    if (kept) {
        // Either mapping serves a request that only reads the page.
        const hv::GrantMapping* have = nullptr;
        if (!writable && kept->readonly) have = &kept->readonly;
        if (!have && kept->writable) have = &kept->writable;
        if (have) {
            uint8_t* page = page_of(*have, writable);
            if (!page) status = GNTST_bad_domain;
            return page;
        }
        slot = writable ? &kept->writable : &kept->readonly;
    }
    hv::GrantMapping m = table_.map(ref, 0, !writable);
    if (!m) {
        status = m.status();
        if (kept && !kept->readonly && !kept->writable) cache_.erase(ref);
        return nullptr;
    }
    uint8_t* page = page_of(m, writable);
    if (slot)
        *slot = std::move(m);
    else
        held.push_back(std::move(m));
    if (!page) status = GNTST_bad_domain;
    return page;
}

}  // namespace xenolith::blkback
