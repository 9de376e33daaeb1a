// The host side of a virtual network interface: where the guest's frames go and where the
// frames for the guest come from (user-mode NAT through libslirp, or a TAP device on a
// bridge). A link outlives the guest's connections: netback attaches a receiver when the
// frontend connects and detaches it when it goes, and the link keeps its state (slirp's
// connections and leases, the TAP device) across a reconnect.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace xenolith::netback {

// One complete Ethernet frame (destination MAC first, no FCS), checksums filled in.
using Frame = std::vector<uint8_t>;

class HostLink {
  public:
    using Receiver = std::function<void(std::span<const uint8_t> frame)>;

    virtual ~HostLink() = default;
    // Takes a frame from the guest. False when the link had to drop it (its queue is full
    // or the host refused it); never blocks for long.
    virtual bool send(Frame frame) = 0;
    // "slirp", "tap vif3.0 on xenbr0": how log lines name the link.
    virtual std::string name() const = 0;
    // True when every frame this link delivers has correct TCP/UDP checksums that nobody
    // on the way could have broken (slirp builds its frames itself): netback then tells
    // the guest the data is validated and it need not check again.
    virtual bool checksums_trusted() const { return false; }

    // Where frames for the guest go from now on (empty: dropped). When this returns, the
    // previous receiver is not running and will not be called again.
    void set_receiver(Receiver receiver);

  protected:
    // Called by the link's own thread for each frame from the host.
    void deliver(std::span<const uint8_t> frame);

  private:
    std::mutex mutex_;  // held while the receiver runs, so set_receiver waits for it
    Receiver receiver_;
};

}  // namespace xenolith::netback
