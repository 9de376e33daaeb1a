// The defaults behind the Scheduler interface: a scheduler overrides the parameter calls
// it supports; the rest refuse, with the errno Xen's scheduler_op would give.
#include "sched/scheduler.hpp"

#include "sched/error.hpp"

namespace xenolith::sched {

const char* to_string(RunqueueGrouping g) {
    switch (g) {
        case RunqueueGrouping::cpu: return "cpu";
        case RunqueueGrouping::core: return "core";
        case RunqueueGrouping::socket: return "socket";
        case RunqueueGrouping::node: return "node";
        case RunqueueGrouping::all: return "all";
    }
    return "?";
}

DomainParams Scheduler::domain_params(domid_t) const { return NoParams{}; }

void Scheduler::set_domain_params(domid_t, const DomainParams& params) {
    if (!std::holds_alternative<NoParams>(params)) wrong_params("per-domain");
}

DomainParams Scheduler::unit_params(const SchedUnit&) const { wrong_params("per-vCPU"); }

void Scheduler::set_unit_params(SchedUnit&, const DomainParams&) { wrong_params("per-vCPU"); }

GlobalParams Scheduler::params() const { return NoParams{}; }

void Scheduler::set_params(const GlobalParams& params, Time) {
    if (!std::holds_alternative<NoParams>(params)) wrong_params("pool");
}

void Scheduler::wrong_params(const char* what) const {
    throw SchedError("the " + std::string(name()) + " scheduler does not take these " + what +
                         " parameters",
                     XEN_EINVAL);
}

void Scheduler::no_such_domain(domid_t domain) const {
    throw SchedError("domain " + std::to_string(domain) + " has no vCPU in this " +
                         std::string(name()) + " pool",
                     XEN_ESRCH);
}

}  // namespace xenolith::sched
