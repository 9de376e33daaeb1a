#include "backends/xenstored/domains.hpp"

namespace xenolith::xenstored {

bool DomainTable::introduce(uint32_t domid, uint64_t ring_frame, uint32_t evtchn) {
    return domains_.emplace(domid, DomainRecord{domid, ring_frame, evtchn, false, {}}).second;
}

bool DomainTable::release(uint32_t domid) {
    return domains_.erase(domid) == 1;
}

DomainRecord* DomainTable::find(uint32_t domid) {
    auto it = domains_.find(domid);
    return it == domains_.end() ? nullptr : &it->second;
}

}  // namespace xenolith::xenstored
