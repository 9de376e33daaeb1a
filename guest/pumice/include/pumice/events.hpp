// 2-level event channels: per-port handlers, local (per-vCPU) masking, and the upcall
// dispatch that src/upcall.S calls.
#pragma once

#include <pumice/xen.hpp>

namespace pumice::events {

// Runs in the upcall with this vCPU's events masked: keep it short, do not block.
// Waking threads (WaitQueue::wake_*) is fine.
using Handler = void (*)(evtchn_port_t port, void* arg);

// Ports the handler table covers; bind() refuses higher ports.
inline constexpr evtchn_port_t kMaxPorts = 1024;

// Routes `port` (already bound to vCPU `cpu` in the hypervisor) to `handler` and unmasks it.
int bind(evtchn_port_t port, unsigned cpu, Handler handler, void* arg);
void unbind(evtchn_port_t port);

// EVTCHNOP_bind_virq for `vcpu`, then bind(); returns the port or a negative Xen errno.
long bind_virq(uint32_t virq, unsigned vcpu, Handler handler, void* arg);
// EVTCHNOP_bind_ipi for `vcpu`, then bind(); returns the port or a negative Xen errno.
long bind_ipi(unsigned vcpu, Handler handler, void* arg);

void mask(evtchn_port_t port);
long unmask(evtchn_port_t port);
long send(evtchn_port_t port);
// EVTCHNOP_send when the result does not matter, as cheaply as the hypervisor allows: on
// Xenolith `out %eax, $XENOLITH_NOTIFY_PORT` (no exit at all when the other end is a backend
// in the hypervisor process), elsewhere the hypercall.
void notify(evtchn_port_t port);
// Whether the hypervisor is Xenolith (XENVER_extraversion starts with "-xenolith"), as
// probed by init_boot().
bool on_xenolith();
// Clears `port`'s pending bit without running its handler: the caller does the handler's
// work itself (see poll()).
void clear_pending(evtchn_port_t port);
// SCHEDOP_poll on one port: sleeps the vCPU in the hypervisor until `port` is pending (or an
// event is due for delivery) or system time reaches deadline_ns (0: none). Usable where a
// thread cannot block (handlers, events masked); a pending port returns at once.
long poll(evtchn_port_t port, uint64_t deadline_ns);

// Local masking: mask_local() returns the previous state for restore_local(). Unmasking
// delivers whatever became pending meanwhile before returning.
uint8_t mask_local();
void restore_local(uint8_t saved);

// Masks every port, registers the upcall for the calling vCPU and probes on_xenolith().
void init_boot();
void init_cpu();

}  // namespace pumice::events

// Called by the upcall stub (and by restore_local) with events masked.
extern "C" void pumice_handle_events();
