// Serves one guest's xenstore ring: the page is reached through the guest's reserved
// xenstore grant, requests and replies are moved by xenstored's pump_ring(), and the pump
// runs when the guest notifies (its event channel) or xenstored queues output (a watch
// firing). Created when the toolstack introduces the domain, destroyed on release.
#pragma once

#include <memory>
#include <thread>

#include "backends/xenstored/connection.hpp"
#include "backends/xenstored/xenstored.hpp"
#include "base/unique_fd.hpp"
#include "hv/grant_table.hpp"
#include "hv/host_channel.hpp"

namespace xenolith::backends {

class XenstoreRingLink {
  public:
    // Throws Error when the grant or the port cannot be had. With a `session` (a restored
    // domain's), the connection takes it before the ring is first read.
    XenstoreRingLink(std::shared_ptr<hv::Domain> domain, xenstored::Xenstored& daemon,
                     uint32_t port, const xenstored::Session* session = nullptr);
    ~XenstoreRingLink();
    XenstoreRingLink(const XenstoreRingLink&) = delete;
    XenstoreRingLink& operator=(const XenstoreRingLink&) = delete;

    bool broken() const { return broken_.load(); }

    // The ring stands still between these (its domain being saved): nothing is read from
    // it or written to it, so the connection's session and the ring page agree.
    void hold();
    void resume();

  private:
    void run();
    void start();

    hv::HostChannel channel_;
    hv::GrantMapping page_;
    UniqueFd wake_;  // written by the connection's wake callback (must only signal)
    UniqueFd stop_;
    xenstored::Connection conn_;
    std::atomic<bool> broken_{false};
    std::thread thread_;
};

}  // namespace xenolith::backends
