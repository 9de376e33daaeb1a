// The pvclock scale converts TSC ticks to nanoseconds the way guests compute it.
#include "hv/pvclock.hpp"

#include <gtest/gtest.h>

namespace xenolith::hv {
namespace {

TEST(TscScale, ConvertsOneSecondOfTicksToOneSecondOfNanoseconds) {
    for (uint64_t hz : {100'000'000ull, 1'000'000'000ull, 2'300'000'000ull, 3'999'999'000ull,
                        5'000'000'000ull}) {
        TscScale s = tsc_scale_for(hz);
        uint64_t ns = scale_delta(hz, s);
        EXPECT_NEAR(static_cast<double>(ns), 1e9, 2.0) << hz;  // ~1 ns per second of error
        EXPECT_NEAR(static_cast<double>(scale_delta(hz / 1000, s)), 1e6, 1.0) << hz;
    }
}

TEST(TimeSource, StampsAreEvenVersionedAndConsistentWithTheHostClock) {
    TimeSource time(0);  // calibrate
    vcpu_time_info_t t{};
    t.version = 7;  // a guest may have scribbled an odd value
    time.update(t);
    EXPECT_EQ(t.version % 2, 0u);
    EXPECT_GT(t.version, 7u);
    uint64_t guest_now = t.system_time + scale_delta(TimeSource::rdtsc() - t.tsc_timestamp,
                                                     {t.tsc_to_system_mul, t.tsc_shift});
    uint64_t host_now = TimeSource::system_time_ns();
    EXPECT_NEAR(static_cast<double>(guest_now), static_cast<double>(host_now), 2e6);
}

}  // namespace
}  // namespace xenolith::hv
