// Guest time, Xen style: system time is nanoseconds of the host's CLOCK_MONOTONIC, and each
// vcpu_info carries a pvclock (TSC stamp, system time, scale) so the guest reads time with
// RDTSC and no exit. The guest TSC is the host TSC (offset 0), so one scale serves all.
#pragma once

#include <cstdint>

#include "abi/xen.hpp"

namespace xenolith::hv {

struct TscScale {
    uint32_t mul_frac = 0;  // ns = ((ticks << shift) * mul_frac) >> 32, shift may be negative
    int8_t shift = 0;
};

// The scale converting ticks of a clock at `hz` to nanoseconds.
TscScale tsc_scale_for(uint64_t hz);
// Applies a scale as the guest does.
uint64_t scale_delta(uint64_t delta, const TscScale& scale);

class TimeSource {
  public:
    // `tsc_khz` from KVM_GET_TSC_KHZ; 0 means calibrate against CLOCK_MONOTONIC.
    explicit TimeSource(uint32_t tsc_khz);

    static uint64_t system_time_ns();  // CLOCK_MONOTONIC in ns
    static uint64_t rdtsc();

    // Writes a fresh stamp into `t` with Xen's version protocol (odd while updating). A
    // domain's system time is the host's plus `offset_ns` (a restored or migrated domain's
    // clock goes on from where it was saved).
    void update(vcpu_time_info_t& t, int64_t offset_ns = 0) const;
    // Writes the wall-clock time at (the domain's) system time 0 into shared_info.
    static void update_wallclock(shared_info_t& s, int64_t offset_ns = 0);
    const TscScale& scale() const { return scale_; }

    // How far back each stamp is dated (see update()).
    static constexpr uint64_t kStampMarginNs = 1'000'000;

  private:
    TscScale scale_;
    uint64_t stamp_margin_ticks_ = 0;
};

}  // namespace xenolith::hv
