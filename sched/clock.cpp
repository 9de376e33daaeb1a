#include "sched/clock.hpp"

#include <time.h>

#include <stdexcept>

namespace xenolith::sched {

Time MonotonicClock::now_ns() const {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return seconds(ts.tv_sec) + ts.tv_nsec;
}

void SimClock::advance(Time delta) {
    if (delta < 0) throw std::invalid_argument("SimClock cannot go backwards");
    now_ += delta;
}

void SimClock::set(Time t) {
    if (t < now_) throw std::invalid_argument("SimClock cannot go backwards");
    now_ = t;
}

}  // namespace xenolith::sched
