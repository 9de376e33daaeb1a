#include "hv/hypercall_names.hpp"

#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <utility>

#include "abi/xen.hpp"
#include "abi/xenolith.h"

namespace xenolith::hv {

namespace {

struct Name {
    uint64_t value;
    const char* name;
};

template <size_t N>
const char* find(const Name (&table)[N], uint64_t value) {
    for (const Name& n : table)
        if (n.value == value) return n.name;
    return nullptr;
}

#define NAME(prefix, x) \
    { prefix##x, #x }

constexpr Name kHypercalls[] = {
    NAME(__HYPERVISOR_, set_trap_table),
    NAME(__HYPERVISOR_, mmu_update),
    NAME(__HYPERVISOR_, set_gdt),
    NAME(__HYPERVISOR_, stack_switch),
    NAME(__HYPERVISOR_, set_callbacks),
    NAME(__HYPERVISOR_, fpu_taskswitch),
    NAME(__HYPERVISOR_, sched_op_compat),
    NAME(__HYPERVISOR_, platform_op),
    NAME(__HYPERVISOR_, set_debugreg),
    NAME(__HYPERVISOR_, get_debugreg),
    NAME(__HYPERVISOR_, update_descriptor),
    NAME(__HYPERVISOR_, memory_op),
    NAME(__HYPERVISOR_, multicall),
    NAME(__HYPERVISOR_, update_va_mapping),
    NAME(__HYPERVISOR_, set_timer_op),
    NAME(__HYPERVISOR_, event_channel_op_compat),
    NAME(__HYPERVISOR_, xen_version),
    NAME(__HYPERVISOR_, console_io),
    NAME(__HYPERVISOR_, physdev_op_compat),
    NAME(__HYPERVISOR_, grant_table_op),
    NAME(__HYPERVISOR_, vm_assist),
    NAME(__HYPERVISOR_, update_va_mapping_otherdomain),
    NAME(__HYPERVISOR_, iret),
    NAME(__HYPERVISOR_, vcpu_op),
    NAME(__HYPERVISOR_, set_segment_base),
    NAME(__HYPERVISOR_, mmuext_op),
    NAME(__HYPERVISOR_, xsm_op),
    NAME(__HYPERVISOR_, nmi_op),
    NAME(__HYPERVISOR_, sched_op),
    NAME(__HYPERVISOR_, callback_op),
    NAME(__HYPERVISOR_, xenoprof_op),
    NAME(__HYPERVISOR_, event_channel_op),
    NAME(__HYPERVISOR_, physdev_op),
    NAME(__HYPERVISOR_, hvm_op),
    NAME(__HYPERVISOR_, sysctl),
    NAME(__HYPERVISOR_, domctl),
    NAME(__HYPERVISOR_, kexec_op),
    NAME(__HYPERVISOR_, tmem_op),
    NAME(__HYPERVISOR_, argo_op),
    NAME(__HYPERVISOR_, xenpmu_op),
    NAME(__HYPERVISOR_, dm_op),
    NAME(__HYPERVISOR_, hypfs_op),
};

constexpr Name kSchedOps[] = {
    NAME(SCHEDOP_, yield),    NAME(SCHEDOP_, block),           NAME(SCHEDOP_, shutdown),
    NAME(SCHEDOP_, poll),     NAME(SCHEDOP_, remote_shutdown), NAME(SCHEDOP_, shutdown_code),
    NAME(SCHEDOP_, watchdog), NAME(SCHEDOP_, pin_override),
};

// Xenolith's own (abi/xenolith.h) after Xen's.
constexpr Name kXenolithSchedOps[] = {{XENOLITH_SCHEDOP_exit_status, "exit_status"}};

constexpr Name kShutdownReasons[] = {
    NAME(SHUTDOWN_, poweroff), NAME(SHUTDOWN_, reboot),   NAME(SHUTDOWN_, suspend),
    NAME(SHUTDOWN_, crash),    NAME(SHUTDOWN_, watchdog), NAME(SHUTDOWN_, soft_reset),
};

constexpr Name kEvtchnOps[] = {
    NAME(EVTCHNOP_, bind_interdomain),
    NAME(EVTCHNOP_, bind_virq),
    NAME(EVTCHNOP_, bind_pirq),
    NAME(EVTCHNOP_, close),
    NAME(EVTCHNOP_, send),
    NAME(EVTCHNOP_, status),
    NAME(EVTCHNOP_, alloc_unbound),
    NAME(EVTCHNOP_, bind_ipi),
    NAME(EVTCHNOP_, bind_vcpu),
    NAME(EVTCHNOP_, unmask),
    NAME(EVTCHNOP_, reset),
    NAME(EVTCHNOP_, init_control),
    NAME(EVTCHNOP_, expand_array),
    NAME(EVTCHNOP_, set_priority),
};

constexpr Name kVcpuOps[] = {
    NAME(VCPUOP_, initialise),
    NAME(VCPUOP_, up),
    NAME(VCPUOP_, down),
    NAME(VCPUOP_, is_up),
    NAME(VCPUOP_, get_runstate_info),
    NAME(VCPUOP_, register_runstate_memory_area),
    NAME(VCPUOP_, set_periodic_timer),
    NAME(VCPUOP_, stop_periodic_timer),
    NAME(VCPUOP_, set_singleshot_timer),
    NAME(VCPUOP_, stop_singleshot_timer),
    NAME(VCPUOP_, register_vcpu_info),
    NAME(VCPUOP_, send_nmi),
    NAME(VCPUOP_, get_physid),
    NAME(VCPUOP_, register_vcpu_time_memory_area),
};

constexpr Name kMemoryOps[] = {
    NAME(XENMEM_, increase_reservation),
    NAME(XENMEM_, decrease_reservation),
    NAME(XENMEM_, maximum_ram_page),
    NAME(XENMEM_, current_reservation),
    NAME(XENMEM_, maximum_reservation),
    NAME(XENMEM_, machphys_mfn_list),
    NAME(XENMEM_, populate_physmap),
    NAME(XENMEM_, add_to_physmap),
    NAME(XENMEM_, memory_map),
    NAME(XENMEM_, machine_memory_map),
    NAME(XENMEM_, exchange),
    NAME(XENMEM_, machphys_mapping),
    NAME(XENMEM_, set_memory_map),
    NAME(XENMEM_, maximum_gpfn),
    NAME(XENMEM_, remove_from_physmap),
    NAME(XENMEM_, add_to_physmap_batch),
};

constexpr Name kGnttabOps[] = {
    NAME(GNTTABOP_, map_grant_ref), NAME(GNTTABOP_, unmap_grant_ref),
    NAME(GNTTABOP_, setup_table),   NAME(GNTTABOP_, dump_table),
    NAME(GNTTABOP_, transfer),      NAME(GNTTABOP_, copy),
    NAME(GNTTABOP_, query_size),    NAME(GNTTABOP_, unmap_and_replace),
    NAME(GNTTABOP_, set_version),   NAME(GNTTABOP_, get_status_frames),
    NAME(GNTTABOP_, get_version),   NAME(GNTTABOP_, swap_grant_ref),
    NAME(GNTTABOP_, cache_flush),
};

constexpr Name kXenVersionOps[] = {
    NAME(XENVER_, version),      NAME(XENVER_, extraversion), NAME(XENVER_, compile_info),
    NAME(XENVER_, capabilities), NAME(XENVER_, changeset),    NAME(XENVER_, platform_parameters),
    NAME(XENVER_, get_features), NAME(XENVER_, pagesize),     NAME(XENVER_, guest_handle),
    NAME(XENVER_, commandline),  NAME(XENVER_, build_id),
};

constexpr Name kConsoleOps[] = {NAME(CONSOLEIO_, write), NAME(CONSOLEIO_, read)};
constexpr Name kCallbackOps[] = {NAME(CALLBACKOP_, register), NAME(CALLBACKOP_, unregister)};
constexpr Name kHvmOps[] = {
    NAME(HVMOP_, set_param),
    NAME(HVMOP_, get_param),
    NAME(HVMOP_, pagetable_dying),
    NAME(HVMOP_, get_time),
    NAME(HVMOP_, set_evtchn_upcall_vector),
};

#undef NAME

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%#" PRIx64, v);
    return buf;
}

// A sub-operation by name, or its number.
template <size_t N>
std::string op(const Name (&table)[N], uint64_t value) {
    const char* n = find(table, value);
    return n ? n : std::to_string(value);
}

// Up to `max` bytes of guest text at `va`, quoted and escaped; "?" when unreadable.
std::string guest_text(const GuestAccess& guest, uint64_t va, uint64_t len, size_t max = 48) {
    std::string bytes(std::min<uint64_t>(len, max), '\0');
    if (!guest.copy_from({reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()}, va)) return "?";
    std::string out = "\"";
    for (unsigned char c : bytes) {
        if (c == '\n') {
            out += "\\n";
        } else if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\x%02x", c);
            out += esc;
        }
    }
    out += len > max ? "\"..." : "\"";
    return out;
}

// An event channel operation with the port it names (the structures begin with it, or hold
// it where Xen put it; an output port reads as the call left it).
std::string event_channel_arguments(const HypercallArgs& a, const GuestAccess& g) {
    auto port_at = [&](size_t offset) {
        auto p = g.read<evtchn_port_t>(a[1] + offset);
        return p ? std::to_string(*p) : std::string("?");
    };
    const std::string name = op(kEvtchnOps, a[0]);
    switch (a[0]) {
        case EVTCHNOP_send:
            return name + ", port " + port_at(offsetof(evtchn_send_t, port));
        case EVTCHNOP_unmask:
            return name + ", port " + port_at(offsetof(evtchn_unmask_t, port));
        case EVTCHNOP_close:
            return name + ", port " + port_at(offsetof(evtchn_close_t, port));
        case EVTCHNOP_bind_virq: {
            auto v = g.read<evtchn_bind_virq_t>(a[1]);
            if (!v) return name + ", ?";
            return name + ", virq " + std::to_string(v->virq) + ", vcpu " +
                   std::to_string(v->vcpu) + " -> port " + std::to_string(v->port);
        }
        case EVTCHNOP_bind_ipi:
            return name + " -> port " + port_at(offsetof(evtchn_bind_ipi_t, port));
        case EVTCHNOP_alloc_unbound:
            return name + " -> port " + port_at(offsetof(evtchn_alloc_unbound_t, port));
        default:
            return name + ", " + hex(a[1]);
    }
}

// The arguments after the name, for the calls whose meaning is worth spelling out.
std::string arguments(uint64_t nr, const HypercallArgs& a, const GuestAccess& g) {
    switch (nr) {
        case __HYPERVISOR_console_io:
            if (a[0] == CONSOLEIO_write)
                return "write, " + std::to_string(a[1]) + ", " + guest_text(g, a[2], a[1]);
            return op(kConsoleOps, a[0]) + ", " + std::to_string(a[1]) + ", " + hex(a[2]);
        case __HYPERVISOR_sched_op:
            if (a[0] == SCHEDOP_shutdown || a[0] == SCHEDOP_shutdown_code) {
                auto s = g.read<sched_shutdown_t>(a[1]);
                return op(kSchedOps, a[0]) + ", " + (s ? op(kShutdownReasons, s->reason) : "?");
            }
            if (a[0] == XENOLITH_SCHEDOP_exit_status) {
                auto status = g.read<uint32_t>(a[1]);
                return op(kXenolithSchedOps, a[0]) + ", " +
                       (status ? std::to_string(*status) : "?");
            }
            return op(kSchedOps, a[0]) + ", " + hex(a[1]);
        case __HYPERVISOR_event_channel_op:
            return event_channel_arguments(a, g);
        case __HYPERVISOR_vcpu_op:
            return op(kVcpuOps, a[0]) + ", " + std::to_string(a[1]) + ", " + hex(a[2]);
        case __HYPERVISOR_memory_op:
            return op(kMemoryOps, a[0]) + ", " + hex(a[1]);
        case __HYPERVISOR_grant_table_op:
            return op(kGnttabOps, a[0]) + ", " + hex(a[1]) + ", " + std::to_string(a[2]);
        case __HYPERVISOR_xen_version:
            return op(kXenVersionOps, a[0]) + ", " + hex(a[1]);
        case __HYPERVISOR_callback_op:
            return op(kCallbackOps, a[0]) + ", " + hex(a[1]);
        case __HYPERVISOR_hvm_op:
            return op(kHvmOps, a[0]) + ", " + hex(a[1]);
        case __HYPERVISOR_set_timer_op:
            return std::to_string(a[0]);
        case __HYPERVISOR_multicall:
            return hex(a[0]) + ", " + std::to_string(a[1]);
        default:
            return hex(a[0]) + ", " + hex(a[1]) + ", " + hex(a[2]) + ", " + hex(a[3]) + ", " +
                   hex(a[4]);
    }
}

}  // namespace

const char* hypercall_name(uint64_t nr) {
    return find(kHypercalls, nr);
}

const char* xen_errno_name(long result) {
    // Xen's own list (xen/errno.h as an X-macro); a value with two names gets the first.
    static constexpr Name kErrnos[] = {
#define XEN_ERRNO(name, value) {value, #name},
#include <xen/errno.h>
    };
    return result < 0 ? find(kErrnos, static_cast<uint64_t>(-result)) : nullptr;
}

std::string describe_hypercall(uint64_t nr, const HypercallArgs& args, long result,
                               const GuestAccess& guest) {
    const char* name = hypercall_name(nr);
    std::string out = name ? name : "hypercall_" + std::to_string(nr);
    out += "(" + arguments(nr, args, guest) + ") = " + std::to_string(result);
    if (result < 0)
        if (const char* e = xen_errno_name(result)) out += std::string(" (") + e + ")";
    return out;
}

}  // namespace xenolith::hv
