// netback's xenbus driver: the features a vif backend publishes, and connect/disconnect
// building a NetConnection over the device's HostLink. The link belongs to the driver, not
// to a connection, so that a guest that reconnects (a rebooted kernel, a reloaded driver)
// finds the same NAT state or TAP device.
//
// A hostile frontend found by the data path is reported through `fail` (meant to be
// BackendDevice::fail). It runs on a thread of the driver's own, never on the ring thread:
// BackendDevice calls disconnect() under its lock, and disconnect() joins the ring thread,
// so the ring thread must never wait for that lock.
#pragma once

#include <optional>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backends/netback/host_link.hpp"
#include "backends/netback/net_connection.hpp"
#include "backends/xenbus/backend_device.hpp"
#include "hv/domain.hpp"

namespace xenolith::netback {

class NetbackDriver final : public backends::xenbus::Driver {
  public:
    using Fail = std::function<void(const std::string& reason)>;

    // `fail` receives each reason (without the device's name, which BackendDevice::fail
    // adds); it may be set later (set_fail), once the BackendDevice owning the driver exists.
    NetbackDriver(std::shared_ptr<hv::Domain> domain, std::unique_ptr<HostLink> link,
                  Fail fail = {});
    ~NetbackDriver() override;

    // feature-sg 1, feature-rx-copy 1, feature-rx-flip 0, feature-gso-tcpv4 0,
    // feature-gso-tcpv6 0, feature-ipv6-csum-offload 1, feature-multicast-control 0.
    std::vector<std::pair<std::string, std::string>> features() override;
    // Reads tx-ring-ref, rx-ring-ref, event-channel, request-rx-copy (must be 1),
    // feature-sg, feature-rx-notify, feature-no-csum-offload; throws Error naming the
    // node at fault.
    void connect(const backends::xenbus::FrontendNodes& frontend) override;
    void disconnect() override;
    // Disconnects, keeping what connect() read and the host link (its NAT state or TAP),
    // and connects to the same rings again on resume(). Frames that arrive meanwhile are
    // dropped, as on a link that is down; TCP resends them.
    void quiesce() override;
    void resume() override;

    void set_fail(Fail fail);
    // The counters of every connection so far, the current one included.
    NetStats stats() const;
    bool connected() const;
    HostLink& link() { return *link_; }

    // What connect() reads, as a pure function of the frontend's nodes (for tests).
    static NetFrontend read_frontend(const backends::xenbus::FrontendNodes& frontend);

  private:
    void connect_locked(const NetFrontend& f);  // mutex_ held
    void report(const std::string& reason);
    void run_reporter();

    const std::shared_ptr<hv::Domain> domain_;
    const std::unique_ptr<HostLink> link_;
    mutable std::mutex mutex_;  // connection_, past_, fail_, reports_, stopping_
    std::condition_variable reports_changed_;
    Fail fail_;
    std::unique_ptr<NetConnection> connection_;
    std::optional<NetFrontend> quiesced_;  // what connect() read, while quiesced
    NetStats past_;                        // of connections already gone
    std::deque<std::string> reports_;
    bool stopping_ = false;
    std::thread reporter_;  // last: starts once everything above exists
};

}  // namespace xenolith::netback
