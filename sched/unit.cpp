#include "sched/unit.hpp"

#include "sched/error.hpp"

namespace xenolith::sched {

const char* to_string(RunState s) {
    switch (s) {
        case RunState::running: return "running";
        case RunState::runnable: return "runnable";
        case RunState::blocked: return "blocked";
        case RunState::offline: return "offline";
    }
    return "?";
}

vcpu_runstate_info_t Runstate::to_xen() const {
    vcpu_runstate_info_t info{};
    info.state = static_cast<int>(state);
    info.state_entry_time = static_cast<uint64_t>(state_entry_time);
    for (int i = 0; i < 4; ++i) info.time[i] = static_cast<uint64_t>(time[i]);
    return info;
}

SchedUnit::SchedUnit(domid_t domain, uint32_t vcpu, Time now, CpuSet hard, CpuSet soft)
    : domain_(domain), vcpu_(vcpu) {
    set_affinity(hard, soft);
    runstate_.state_entry_time = now;
    processor_ = hard_.first().value_or(0);
}

std::string SchedUnit::name() const {
    return "d" + std::to_string(domain_) + "v" + std::to_string(vcpu_);
}

Runstate SchedUnit::runstate(Time now) const {
    Runstate r = runstate_;
    if (now > r.state_entry_time) r.time[static_cast<int>(r.state)] += now - r.state_entry_time;
    return r;
}

void SchedUnit::set_state(RunState s, Time now) {
    if (now < runstate_.state_entry_time) now = runstate_.state_entry_time;
    runstate_.time[static_cast<int>(runstate_.state)] += now - runstate_.state_entry_time;
    runstate_.state = s;
    runstate_.state_entry_time = now;
}

void SchedUnit::set_affinity(CpuSet hard, CpuSet soft) {
    if (hard.empty())
        throw SchedError(name() + " needs at least one CPU in its hard affinity", XEN_EINVAL);
    hard_ = hard;
    soft_ = soft;
}

}  // namespace xenolith::sched
