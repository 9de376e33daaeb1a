// The constructors of the schedulers, for the registry only (sched/registry.cpp). Everyone
// else creates schedulers by name with make_scheduler().
#pragma once

#include <memory>

#include "sched/scheduler.hpp"

namespace xenolith::sched {

std::unique_ptr<Scheduler> make_credit_scheduler(const Topology& topology);
std::unique_ptr<Scheduler> make_credit2_scheduler(const Topology& topology);
std::unique_ptr<Scheduler> make_rtds_scheduler(const Topology& topology);
std::unique_ptr<Scheduler> make_arinc653_scheduler(const Topology& topology);
std::unique_ptr<Scheduler> make_null_scheduler(const Topology& topology);

}  // namespace xenolith::sched
