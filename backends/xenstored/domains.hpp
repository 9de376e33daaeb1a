// Domain bookkeeping: which domains xenstored has been introduced to (INTRODUCE, RELEASE,
// IS_DOMAIN_INTRODUCED, RESUME, SET_TARGET). Dom0 is always introduced.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

namespace xenolith::xenstored {

struct DomainRecord {
    uint32_t domid = 0;
    uint64_t ring_frame = 0;  // the guest frame of its struct xenstore_domain_interface
    uint32_t evtchn = 0;      // its end of the xenstore event channel
    // @releaseDomain has fired for its shutdown; RESUME re-arms it.
    bool shutdown_reported = false;
    std::optional<uint32_t> target;  // SET_TARGET: the domain it acts for
};

class DomainTable {
  public:
    // Records the domain; false if it was already introduced (the record is left alone).
    bool introduce(uint32_t domid, uint64_t ring_frame, uint32_t evtchn);
    // Forgets the domain; false if it was not introduced.
    bool release(uint32_t domid);
    bool introduced(uint32_t domid) const { return domid == 0 || domains_.count(domid) == 1; }
    DomainRecord* find(uint32_t domid);
    size_t size() const { return domains_.size(); }

  private:
    std::map<uint32_t, DomainRecord> domains_;
};

}  // namespace xenolith::xenstored
