#include "hv/pvclock.hpp"

#include <time.h>
#include <x86intrin.h>

#include <atomic>

namespace xenolith::hv {

TscScale tsc_scale_for(uint64_t hz) {
    constexpr uint64_t kNsPerSec = 1'000'000'000;
    // Bring hz into (1e9, 2e9] with a power-of-two shift so that the 32.32 fraction
    // ns-per-tick keeps full precision, then take mul = 2^32 * 1e9 / hz'.
    int shift = 0;
    uint64_t scaled = hz;
    while (scaled > 2 * kNsPerSec) {
        scaled >>= 1;
        --shift;
    }
    while (scaled <= kNsPerSec) {
        scaled <<= 1;
        ++shift;
    }
    TscScale s;
    s.mul_frac = static_cast<uint32_t>((kNsPerSec << 32) / scaled);
    s.shift = static_cast<int8_t>(shift);
    return s;
}

uint64_t scale_delta(uint64_t delta, const TscScale& scale) {
    if (scale.shift < 0)
        delta >>= -scale.shift;
    else
        delta <<= scale.shift;
    return static_cast<uint64_t>((static_cast<unsigned __int128>(delta) * scale.mul_frac) >> 32);
}

uint64_t TimeSource::system_time_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t TimeSource::rdtsc() {
    return __rdtsc();
}

TimeSource::TimeSource(uint32_t tsc_khz) {
    uint64_t hz = uint64_t{tsc_khz} * 1000;
    if (hz == 0) {
        // Calibrate over 20 ms against the monotonic clock.
        uint64_t t0 = system_time_ns(), c0 = rdtsc();
        timespec nap{0, 20'000'000};
        ::nanosleep(&nap, nullptr);
        uint64_t t1 = system_time_ns(), c1 = rdtsc();
        hz = (c1 - c0) * 1'000'000'000ull / (t1 - t0);
    }
    scale_ = tsc_scale_for(hz);
    stamp_margin_ticks_ = kStampMarginNs * hz / 1'000'000'000ull;
}

void TimeSource::update(vcpu_time_info_t& t, int64_t offset_ns) const {
    std::atomic_ref<uint32_t> version(t.version);
    uint32_t v = version.load(std::memory_order_relaxed);
    // The guest may have scribbled on version: force it odd, then even, around the update.
    version.store((v | 1) + 2, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    // Take both stamps back to back so they describe the same instant; then date them back
    // by the margin. The guest computes system_time + (its TSC - tsc_timestamp) with no sign:
    // a guest TSC below the stamp (another host CPU whose TSC lags, which nested and
    // emulated hosts have) would read as a jump of centuries, after which Linux's clock
    // never comes back. An older instant describes the same clock.
    uint64_t tsc = rdtsc();
    uint64_t now = system_time_ns();
    if (tsc > stamp_margin_ticks_ && now > kStampMarginNs) {
        tsc -= stamp_margin_ticks_;
        now -= kStampMarginNs;
    }
    t.tsc_timestamp = tsc;
    t.system_time = now + static_cast<uint64_t>(offset_ns);
    t.tsc_to_system_mul = scale_.mul_frac;
    t.tsc_shift = scale_.shift;
    std::atomic_thread_fence(std::memory_order_release);
    version.store((v | 1) + 3, std::memory_order_release);
}

void TimeSource::update_wallclock(shared_info_t& s, int64_t offset_ns) {
    timespec real{}, mono{};
    ::clock_gettime(CLOCK_REALTIME, &real);
    ::clock_gettime(CLOCK_MONOTONIC, &mono);
    int64_t ns = (static_cast<int64_t>(real.tv_sec) - mono.tv_sec) * 1'000'000'000ll +
                 (real.tv_nsec - mono.tv_nsec) - offset_ns;
    std::atomic_ref<uint32_t> version(s.wc_version);
    uint32_t v = version.load(std::memory_order_relaxed);
    version.store((v | 1) + 2, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    uint64_t sec = static_cast<uint64_t>(ns / 1'000'000'000ll);
    s.wc_sec = static_cast<uint32_t>(sec);
    s.wc_sec_hi = static_cast<uint32_t>(sec >> 32);
    s.wc_nsec = static_cast<uint32_t>(ns % 1'000'000'000ll);
    std::atomic_thread_fence(std::memory_order_release);
    version.store((v | 1) + 3, std::memory_order_release);
}

}  // namespace xenolith::hv
