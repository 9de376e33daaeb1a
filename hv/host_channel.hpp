// A backend's end of an event channel with a guest (the role Xen gives dom0's evtchn
// device): the guest offered a port to domid 0, the backend binds it here, waits on fd()
// and notifies back. Unbinding on destruction leaves the guest's port unbound, as in Xen.
#pragma once

#include <cstdint>
#include <memory>

#include "hv/domain.hpp"
#include "hv/evtchn.hpp"

namespace xenolith::hv {

class HostChannel {
  public:
    // Throws Error when `guest_port` is not an unbound port offered to domid 0.
    HostChannel(std::shared_ptr<Domain> domain, uint32_t guest_port);
    ~HostChannel();
    HostChannel(const HostChannel&) = delete;
    HostChannel& operator=(const HostChannel&) = delete;

    // Readable when the guest has notified since the last consume().
    int fd() const { return endpoint_->event->fd(); }
    // Clears the readiness; returns how many notifications arrived (0 if none).
    uint64_t consume();
    // Raises the guest's port.
    void notify();
    uint32_t guest_port() const { return port_; }
    Domain& domain() const { return *domain_; }

  private:
    std::shared_ptr<Domain> domain_;
    uint32_t port_;
    std::shared_ptr<HostEndpoint> endpoint_;
};

}  // namespace xenolith::hv
