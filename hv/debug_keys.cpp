#include "hv/debug_keys.hpp"

#include <atomic>
#include <cinttypes>
#include <cstdio>

#include "hv/domain.hpp"
#include "hv/pvclock.hpp"

namespace xenolith::hv {

namespace {

const char* runstate_name(int state) {
    switch (state) {
        case RUNSTATE_running:
            return "running";
        case RUNSTATE_runnable:
            return "runnable";
        case RUNSTATE_blocked:
            return "blocked";
        default:
            return "offline";
    }
}

// "in 12.5 ms", "12.5 ms ago" or "none".
std::string timer_text(uint64_t deadline, uint64_t now) {
    if (!deadline) return "none";
    const int64_t left = static_cast<int64_t>(deadline - now);
    char buf[48];
    std::snprintf(buf, sizeof buf, left >= 0 ? "in %.1f ms" : "%.1f ms ago",
                  static_cast<double>(left >= 0 ? left : -left) / 1e6);
    return buf;
}

std::string vcpu_line(Domain& d, Vcpu& v) {
    vcpu_runstate_info_t rs{};
    v.get_runstate(rs);
    std::string flags = "no vcpu_info";
    if (vcpu_info_t* vi = v.vcpu_info()) {
        char buf[96];
        std::snprintf(
            buf, sizeof buf, "upcall pending %u mask %u sel 0x%" PRIx64,
            std::atomic_ref<uint8_t>(vi->evtchn_upcall_pending).load(),
            std::atomic_ref<uint8_t>(vi->evtchn_upcall_mask).load(),
            static_cast<uint64_t>(std::atomic_ref<xen_ulong_t>(vi->evtchn_pending_sel).load()));
        flags = buf;
    }
    const VcpuCounters& c = v.counters();
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "(d%u) vCPU%u: %s, %s, exits %" PRIu64 ", hypercalls %" PRIu64
                  ", upcalls %" PRIu64 ", %s, timer %s",
                  d.id(), v.id(), v.is_up() ? "up" : "down", runstate_name(rs.state),
                  c.exits.load(), c.hypercalls.load(), c.upcalls.load(), flags.c_str(),
                  timer_text(v.timer_deadline(), d.guest_time_ns()).c_str());
    return buf;
}

std::string port_text(const evtchn_status_t& st) {
    char buf[96];
    switch (st.status) {
        case EVTCHNSTAT_unbound:
            std::snprintf(buf, sizeof buf, "unbound (offered to d%u)", st.u.unbound.dom);
            break;
        case EVTCHNSTAT_interdomain:
            std::snprintf(buf, sizeof buf, "interdomain d%u port %u", st.u.interdomain.dom,
                          st.u.interdomain.port);
            break;
        case EVTCHNSTAT_virq:
            std::snprintf(buf, sizeof buf, "virq %u", st.u.virq);
            break;
        case EVTCHNSTAT_ipi:
            std::snprintf(buf, sizeof buf, "ipi");
            break;
        default:
            std::snprintf(buf, sizeof buf, "status %u", st.status);
    }
    return buf;
}

}  // namespace

std::vector<std::string> dump_vcpus(Domain& d) {
    std::vector<std::string> lines;
    lines.push_back("(d" + std::to_string(d.id()) + ") " + d.name() + ": " + state_name(d.state()) +
                    ", " + std::to_string(d.nr_vcpus()) + " vCPU(s) on " + d.platform_name());
    for (uint32_t i = 0; i < d.nr_vcpus(); ++i) lines.push_back(vcpu_line(d, d.vcpu(i)));
    return lines;
}

std::vector<std::string> dump_event_channels(Domain& d) {
    std::vector<std::string> lines;
    EventChannelTable& table = d.evtchn();
    for (uint32_t port = 1; port < table.nr_ports(); ++port) {
        evtchn_status_t st{};
        st.dom = DOMID_SELF;
        st.port = port;
        if (table.status(st) != 0 || st.status == EVTCHNSTAT_closed) continue;
        char buf[200];
        std::snprintf(buf, sizeof buf, "(d%u) port %u: %s, vCPU%u, pending %d, masked %d", d.id(),
                      port, port_text(st).c_str(), st.vcpu, table.is_pending(port),
                      table.is_masked(port));
        lines.push_back(buf);
    }
    if (lines.empty()) lines.push_back("(d" + std::to_string(d.id()) + ") no event channels");
    return lines;
}

}  // namespace xenolith::hv
