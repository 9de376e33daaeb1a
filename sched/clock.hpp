// Time as the schedulers see it: signed nanoseconds on one monotonic clock, like Xen's
// s_time_t. Schedulers take `now` as an argument and never read a clock themselves, so the
// same code runs against the host's CLOCK_MONOTONIC and against a simulated clock in tests.
#pragma once

#include <cstdint>
#include <limits>

namespace xenolith::sched {

using Time = std::int64_t;  // nanoseconds

// "No deadline": a slice that never ends, an idle CPU nobody needs to wake.
inline constexpr Time kForever = std::numeric_limits<Time>::max();

constexpr Time microseconds(std::int64_t n) { return n * 1'000; }
constexpr Time milliseconds(std::int64_t n) { return n * 1'000'000; }
constexpr Time seconds(std::int64_t n) { return n * 1'000'000'000; }

class Clock {
public:
    virtual ~Clock() = default;
    virtual Time now_ns() const = 0;
};

// The host's CLOCK_MONOTONIC: what the dispatcher uses when it drives real vCPU threads.
class MonotonicClock final : public Clock {
public:
    Time now_ns() const override;
};

// A clock that moves only when told to: deterministic scheduler tests.
class SimClock final : public Clock {
public:
    explicit SimClock(Time start = 0) : now_(start) {}
    Time now_ns() const override { return now_; }
    // Time never goes backwards; both throw std::invalid_argument if asked to.
    void advance(Time delta);
    void set(Time t);

private:
    Time now_;
};

}  // namespace xenolith::sched
