// Errors from scheduler and CPU-pool operations: one sentence for people, plus the Xen errno
// a domctl/sysctl handler would return for it (XEN_EINVAL, XEN_EBUSY, ...).
#pragma once

#include <string>

#include "base/error.hpp"

namespace xenolith::sched {

class SchedError : public Error {
public:
    SchedError(const std::string& what, int xen_errno) : Error(what), xen_errno_(xen_errno) {}
    // Positive: hypercall paths return -xen_errno().
    int xen_errno() const { return xen_errno_; }

private:
    int xen_errno_;
};

}  // namespace xenolith::sched
