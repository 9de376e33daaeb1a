#include "sched/vcpu_gate.hpp"

namespace xenolith::sched {

void VcpuGate::dispatch(SchedUnit& unit, Cpu cpu) {
    std::lock_guard lock(mutex_);
    // The CPU's previous unit may have left it by blocking, which the dispatcher does not
    // report as a pre-emption: its grant ends here, or it could walk back in on waking.
    auto prev = granted_to_.find(cpu);
    if (prev != granted_to_.end() && prev->second != &unit) {
        Seat& p = seat(*prev->second);
        p.granted.reset();
        p.holds.store(false);
    }
    Seat& s = seat(unit);
    s.granted = cpu;
    s.holds.store(s.occupying == s.granted);
    granted_to_[cpu] = &unit;
    s.cv.notify_one();
}

void VcpuGate::preempt(SchedUnit& unit) {
    bool inside = false;
    {
        std::lock_guard lock(mutex_);
        Seat& s = seat(unit);
        if (s.granted) {
            auto it = granted_to_.find(*s.granted);
            if (it != granted_to_.end() && it->second == &unit) granted_to_.erase(it);
        }
        s.granted.reset();
        s.holds.store(false);
        inside = s.occupying.has_value();
    }
    // Outside the gate's lock: the kick may take the vCPU's own locks.
    if (inside && kick_) kick_(unit);
}

std::optional<Cpu> VcpuGate::enter(SchedUnit& unit) {
    std::unique_lock lock(mutex_);
    Seat& s = seat(unit);
    if (s.occupying && s.occupying != s.granted) vacate(s);
    s.cv.wait(lock, [&] {
        if (s.cancelled) return true;
        if (!s.granted) return false;
        auto it = occupant_.find(*s.granted);
        return it == occupant_.end() || it->second == &unit;
    });
    if (s.cancelled) return std::nullopt;
    occupant_[*s.granted] = &unit;
    s.occupying = s.granted;
    s.holds.store(true);
    return s.granted;
}

void VcpuGate::leave(SchedUnit& unit) {
    std::lock_guard lock(mutex_);
    vacate(seat(unit));
}

void VcpuGate::vacate(Seat& s) {
    if (!s.occupying) return;
    const Cpu cpu = *s.occupying;
    occupant_.erase(cpu);
    s.occupying.reset();
    s.holds.store(false);
    notify_granted(cpu);  // whoever waits for this CPU may go in now
}

void VcpuGate::notify_granted(Cpu cpu) {
    auto it = granted_to_.find(cpu);
    if (it != granted_to_.end()) seat(*it->second).cv.notify_one();
}

const std::atomic<bool>& VcpuGate::holds_cpu(const SchedUnit& unit) {
    std::lock_guard lock(mutex_);
    return seat(unit).holds;  // map nodes never move
}

void VcpuGate::cancel(SchedUnit& unit) {
    std::lock_guard lock(mutex_);
    Seat& s = seat(unit);
    s.cancelled = true;
    s.cv.notify_one();
}

void VcpuGate::forget(const SchedUnit& unit) {
    std::lock_guard lock(mutex_);
    auto it = seats_.find(&unit);
    if (it == seats_.end()) return;
    vacate(it->second);
    for (auto g = granted_to_.begin(); g != granted_to_.end();)
        g = g->second == &unit ? granted_to_.erase(g) : std::next(g);
    seats_.erase(it);
}

}  // namespace xenolith::sched
