// __HYPERVISOR_sched_op and __HYPERVISOR_set_timer_op: yielding, blocking, polling,
// shutting down, and the vCPU's one-shot timer.
#include "abi/xen.hpp"

#include <vector>

#include "abi/xenolith.h"
#include "hv/domain.hpp"
#include "hv/hypercall.hpp"
#include "hv/hypervisor.hpp"

namespace xenolith::hv {

namespace {
// Xen's limit on ports in one SCHEDOP_poll.
constexpr unsigned kMaxPollPorts = 128;
}  // namespace

long do_sched_op(HypercallContext& ctx, const HypercallArgs& a) {
    const uint64_t cmd = a[0], arg = a[1];
    switch (cmd) {
        case SCHEDOP_yield:
            // The dispatcher decides: another vCPU of the pool may run first.
            ctx.domain.hypervisor().scheduling().yield(ctx.vcpu);
            return 0;
        case SCHEDOP_block: return ctx.vcpu.block();
        case SCHEDOP_shutdown: {
            auto s = ctx.guest.read<sched_shutdown_t>(arg);
            if (!s) return -XEN_EFAULT;
            if (s->reason > SHUTDOWN_MAX) return -XEN_EINVAL;
            ctx.domain.shutdown(s->reason);
            return 0;
        }
        case SCHEDOP_shutdown_code: {
            auto s = ctx.guest.read<sched_shutdown_t>(arg);
            if (!s) return -XEN_EFAULT;
            if (s->reason > SHUTDOWN_MAX) return -XEN_EINVAL;
            ctx.domain.set_shutdown_code(s->reason);
            return 0;
        }
        case SCHEDOP_poll: {
            auto p = ctx.guest.read<sched_poll_t>(arg);
            if (!p) return -XEN_EFAULT;
            if (p->nr_ports > kMaxPollPorts) return -XEN_EINVAL;
            std::vector<uint32_t> ports(p->nr_ports);
            uint64_t ports_va = reinterpret_cast<uint64_t>(p->ports.p);
            if (!ctx.guest.copy_from({reinterpret_cast<uint8_t*>(ports.data()),
                                      ports.size() * sizeof(uint32_t)},
                                     ports_va))
                return -XEN_EFAULT;
            return ctx.vcpu.poll(ports, p->timeout);
        }
        case XENOLITH_SCHEDOP_exit_status: {
            auto status = ctx.guest.read<uint32_t>(arg);
            if (!status) return -XEN_EFAULT;
            ctx.domain.set_exit_status(*status);
            return 0;
        }
        // Acting on other domains needs privileges a guest does not have.
        case SCHEDOP_remote_shutdown:
        case SCHEDOP_pin_override: return -XEN_EPERM;
        default: return -XEN_ENOSYS;  // SCHEDOP_watchdog arrives with the toolstack
    }
}

long do_set_timer_op(HypercallContext& ctx, const HypercallArgs& a) {
    ctx.vcpu.set_timer(a[0]);  // 0 stops the timer; a past deadline fires at once
    return 0;
}

}  // namespace xenolith::hv
