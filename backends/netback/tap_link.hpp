// A TAP device on a Linux bridge, as Xen's vif-bridge hotplug script sets up a vif: the
// guest's frames come out of the TAP device into the bridge, and whatever the bridge
// forwards to it goes to the guest. Needs CAP_NET_ADMIN (root); the device goes when the
// link does.
#pragma once

#include <cstdint>
#include <string>
#include <thread>

#include "backends/netback/host_link.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::netback {

class TapLink final : public HostLink {
  public:
    // xl's name for a domain's vif when the config gives no vifname: "vif<domid>.<devid>".
    static std::string default_name(uint32_t domid, uint32_t devid);

    // Creates TAP device `ifname` (IFF_TAP | IFF_NO_PI), brings it up and, when `bridge`
    // is not empty, adds it to that bridge (SIOCBRADDIF). Throws Error naming the step and
    // the device that failed ("TAP vif3.0: cannot add it to bridge xenbr0: No such
    // device"); without root the first step fails with a sentence that says so.
    TapLink(std::string ifname, std::string bridge);
    // Takes the device out of its bridge; closing it removes it.
    ~TapLink() override;
    TapLink(const TapLink&) = delete;
    TapLink& operator=(const TapLink&) = delete;

    bool send(Frame frame) override;
    std::string name() const override;
    const std::string& ifname() const { return ifname_; }

  private:
    void run();

    std::string ifname_;
    std::string bridge_;
    UniqueFd tap_;
    UniqueFd stop_;
    std::thread thread_;
};

}  // namespace xenolith::netback
