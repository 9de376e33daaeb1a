// 2-level event channel dispatch (docs/guest-abi.md, "Events").
#include <pumice/cpu.hpp>
#include <pumice/events.hpp>
#include <pumice/hypercall.hpp>
#include <pumice/pumice.hpp>

extern "C" void pumice_upcall_entry();

namespace pumice::events {
namespace {

constexpr unsigned kBitsPerWord = sizeof(xen_ulong_t) * 8;

struct Binding {
    Handler handler;
    void* arg;
    unsigned cpu;
};

Binding g_bindings[kMaxPorts];
bool g_on_xenolith;

bool probe_xenolith() {
    xen_extraversion_t extra{};
    if (hv::xen_version(XENVER_extraversion, &extra) < 0) return false;
    extra[sizeof(extra) - 1] = '\0';
    static constexpr char kPrefix[] = "-xenolith";
    return strncmp(extra, kPrefix, sizeof(kPrefix) - 1) == 0;
}

xen_ulong_t* pending_words() {
    return xen_shared_info().evtchn_pending;
}
xen_ulong_t* mask_words() {
    return xen_shared_info().evtchn_mask;
}

void set_bit(xen_ulong_t* words, unsigned bit) {
    __atomic_fetch_or(&words[bit / kBitsPerWord], xen_ulong_t{1} << (bit % kBitsPerWord),
                      __ATOMIC_SEQ_CST);
}
void clear_bit(xen_ulong_t* words, unsigned bit) {
    __atomic_fetch_and(&words[bit / kBitsPerWord], ~(xen_ulong_t{1} << (bit % kBitsPerWord)),
                       __ATOMIC_SEQ_CST);
}

void register_upcall() {
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_event;
    cb.address = reinterpret_cast<xen_callback_t>(&pumice_upcall_entry);
    long rc = hv::callback_op(CALLBACKOP_register, &cb);
    if (rc < 0) panic("CALLBACKOP_register failed: %ld", rc);
}

}  // namespace

void init_boot() {
    // Start with every port masked: only ports with a handler are opened (bind()).
    for (unsigned w = 0; w < kBitsPerWord; ++w) mask_words()[w] = ~xen_ulong_t{0};
    register_upcall();
    g_on_xenolith = probe_xenolith();
}

void init_cpu() {
    register_upcall();
}

int bind(evtchn_port_t port, unsigned cpu, Handler handler, void* arg) {
    if (port >= kMaxPorts || cpu >= kMaxCpus) return -XEN_EINVAL;
    uint8_t saved = mask_local();
    g_bindings[port] = Binding{handler, arg, cpu};
    restore_local(saved);
    unmask(port);
    return 0;
}

void unbind(evtchn_port_t port) {
    if (port >= kMaxPorts) return;
    mask(port);
    uint8_t saved = mask_local();
    g_bindings[port] = Binding{};
    restore_local(saved);
}

long bind_virq(uint32_t virq, unsigned vcpu, Handler handler, void* arg) {
    evtchn_bind_virq_t op{};
    op.virq = virq;
    op.vcpu = vcpu;
    long rc = hv::event_channel_op(EVTCHNOP_bind_virq, &op);
    if (rc < 0) return rc;
    rc = bind(op.port, vcpu, handler, arg);
    return rc < 0 ? rc : op.port;
}

long bind_ipi(unsigned vcpu, Handler handler, void* arg) {
    evtchn_bind_ipi_t op{};
    op.vcpu = vcpu;
    long rc = hv::event_channel_op(EVTCHNOP_bind_ipi, &op);
    if (rc < 0) return rc;
    rc = bind(op.port, vcpu, handler, arg);
    return rc < 0 ? rc : op.port;
}

void mask(evtchn_port_t port) {
    set_bit(mask_words(), port);
}

// Through the hypervisor, which re-raises the event if it became pending while masked.
long unmask(evtchn_port_t port) {
    evtchn_unmask_t op{};
    op.port = port;
    return hv::event_channel_op(EVTCHNOP_unmask, &op);
}

long send(evtchn_port_t port) {
    evtchn_send_t op{};
    op.port = port;
    return hv::event_channel_op(EVTCHNOP_send, &op);
}

void notify(evtchn_port_t port) {
    if (g_on_xenolith) {
        // docs/guest-abi.md, "Notifying an event channel without an exit".
        asm volatile("outl %%eax, %[io]" ::"a"(port), [io] "i"(XENOLITH_NOTIFY_PORT) : "memory");
    } else {
        send(port);
    }
}

bool on_xenolith() {
    return g_on_xenolith;
}

void clear_pending(evtchn_port_t port) {
    clear_bit(pending_words(), port);
}

long poll(evtchn_port_t port, uint64_t deadline_ns) {
    sched_poll_t op{};
    set_xen_guest_handle(op.ports, &port);
    op.nr_ports = 1;
    op.timeout = deadline_ns;
    return hv::sched_op(SCHEDOP_poll, &op);
}

uint8_t mask_local() {
    volatile vcpu_info* v = this_cpu().vcpu;
    uint8_t saved = v->evtchn_upcall_mask;
    v->evtchn_upcall_mask = 1;
    asm volatile("" ::: "memory");
    return saved;
}

void restore_local(uint8_t saved) {
    asm volatile("" ::: "memory");
    if (saved) return;
    volatile vcpu_info* v = this_cpu().vcpu;
    // Unmask, then deliver what arrived while masked ourselves, as the upcall stub does:
    // a plain guest store does not make the hypervisor look again.
    for (;;) {
        __atomic_exchange_n(&v->evtchn_upcall_mask, 0, __ATOMIC_SEQ_CST);
        if (!v->evtchn_upcall_pending) return;
        v->evtchn_upcall_mask = 1;
        pumice_handle_events();
    }
}

}  // namespace pumice::events

using namespace pumice;
using namespace pumice::events;

// Scans the words flagged in pending_sel for ports pending and not masked, clears each and
// runs its handler. Ports routed to another vCPU are left for that vCPU, which the
// hypervisor notifies separately.
extern "C" void pumice_handle_events() {
    Cpu& cpu = this_cpu();
    volatile vcpu_info* v = cpu.vcpu;
    v->evtchn_upcall_pending = 0;
    xen_ulong_t selected =
        __atomic_exchange_n(&cpu.vcpu->evtchn_pending_sel, xen_ulong_t{0}, __ATOMIC_SEQ_CST);
    while (selected) {
        unsigned w = __builtin_ctzl(selected);
        selected &= selected - 1;
        xen_ulong_t ready = __atomic_load_n(&pending_words()[w], __ATOMIC_ACQUIRE) &
                            ~__atomic_load_n(&mask_words()[w], __ATOMIC_ACQUIRE);
        while (ready) {
            unsigned bit = __builtin_ctzl(ready);
            ready &= ready - 1;
            evtchn_port_t port = w * kBitsPerWord + bit;
            if (port >= kMaxPorts) continue;
            const Binding& b = g_bindings[port];
            if (b.cpu != cpu.id) continue;
            clear_bit(pending_words(), port);  // before the handler, so a new event is not lost
            if (b.handler) b.handler(port, b.arg);
        }
    }
}
