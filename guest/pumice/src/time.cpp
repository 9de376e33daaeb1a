// pvclock and wall clock. Both use Xen's version protocol: the hypervisor makes the
// version odd while it updates the fields, so a reader retries while it is odd or changed.
#include <pumice/cpu.hpp>
#include <pumice/hypercall.hpp>
#include <pumice/pumice.hpp>
#include <pumice/time.hpp>

namespace pumice::time {
namespace {

// ns = system_time + ((tsc - tsc_timestamp) scaled by tsc_shift) * mul / 2^32
uint64_t scale_delta(uint64_t delta, uint32_t mul, int8_t shift) {
    if (shift < 0)
        delta >>= -shift;
    else
        delta <<= shift;
    return static_cast<uint64_t>((static_cast<unsigned __int128>(delta) * mul) >> 32);
}

}  // namespace

uint64_t now_ns() {
    const volatile vcpu_time_info& t = this_cpu().vcpu->time;
    uint32_t version;
    uint64_t ns;
    do {
        version = t.version;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint64_t tsc = rdtsc();
        uint64_t delta = tsc > t.tsc_timestamp ? tsc - t.tsc_timestamp : 0;
        ns = t.system_time + scale_delta(delta, t.tsc_to_system_mul, t.tsc_shift);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
    } while ((version & 1) || version != t.version);
    return ns;
}

uint64_t wallclock_ns() {
    const volatile shared_info_t& s = xen_shared_info();
    uint32_t version;
    uint64_t sec, nsec;
    do {
        version = s.wc_version;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        sec = (static_cast<uint64_t>(s.wc_sec_hi) << 32) | s.wc_sec;
        nsec = s.wc_nsec;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
    } while ((version & 1) || version != s.wc_version);
    return sec * kNsPerSec + nsec + now_ns();
}

long arm_timer(uint64_t deadline_ns) {
    vcpu_set_singleshot_timer_t timer{};
    timer.timeout_abs_ns = deadline_ns;
    Cpu& cpu = this_cpu();
    long rc = hv::vcpu_op(VCPUOP_set_singleshot_timer, cpu.id, &timer);
    if (rc == -XEN_ENOSYS) rc = hv::set_timer_op(deadline_ns);
    // A failed arm leaves no deadline we could rely on.
    cpu.timer_armed_ns = rc == 0 ? deadline_ns : 0;
    return rc;
}

// Every hypercall is an exit, which on the process platform costs tens of microseconds: an
// idle loop that re-armed the same deadline on each pass paid one per wakeup.
long arm_timer_by(uint64_t deadline_ns, uint64_t now_ns) {
    uint64_t armed = this_cpu().timer_armed_ns;
    if (armed > now_ns && armed <= deadline_ns) return 0;
    return arm_timer(deadline_ns);
}

}  // namespace pumice::time
