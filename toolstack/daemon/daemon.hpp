// xenolithd: the hypervisor and the control domain's role in one process. It owns every
// domain, serves xenstore (for guests and for xenstore-* tools), the control API, and,
// if asked, Prometheus metrics. docs/xenolithd.md describes how to run it.
#pragma once

#include <signal.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "backends/xenstored/socket_server.hpp"
#include "hv/hypervisor.hpp"
#include "platform/select.hpp"
#include "toolstack/api/protocol.hpp"
#include "toolstack/api/types.hpp"
#include "toolstack/daemon/control_server.hpp"
#include "toolstack/daemon/domain_manager.hpp"
#include "toolstack/daemon/event_log.hpp"
#include "toolstack/daemon/metrics_server.hpp"
#include "toolstack/daemon/migration_listener.hpp"
#include "toolstack/launch/store_service.hpp"

namespace xenolith::daemon {

inline constexpr const char* kDaemonVersion = "xenolithd 0.1 (control API 1)";

struct DaemonOptions {
    api::Paths paths;
    bool log_to_stderr = true;
    // How long a stopping daemon waits for guests to power off before destroying them.
    std::chrono::milliseconds shutdown_timeout{30000};
    std::string metrics_address;  // empty: no metrics endpoint
    std::string migrate_address;  // [tcp:]HOST:PORT to receive migrations on; empty: none
    std::string kvm_path = "/dev/kvm";
    // Where domains whose config does not say go (platform/select.hpp).
    platform::Accel accel = platform::Accel::Auto;
};

class Daemon {
  public:
    // Brings everything up; when this returns, the control socket accepts requests.
    explicit Daemon(const DaemonOptions& options);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Waits for one of `signals` (blocked in every thread), then stops in order:
    // no new requests, guests powered off (destroyed after the timeout), sessions ended.
    void run_until(const sigset_t& signals);
    void stop();

    DomainManager& domains() { return *domains_; }
    EventLog& log() { return log_; }
    api::HostInfo host_info() const;
    std::string metrics_text() const;

  private:
    // The default platform and why, for the log.
    std::string platform_text() const;
    std::map<std::string, Handler> handlers();

    DaemonOptions options_;
    EventLog log_;
    platform::HostPlatforms probe_;
    hv::Hypervisor hv_;
    launch::StoreService store_;
    std::unique_ptr<xenstored::SocketServer> store_socket_;
    std::unique_ptr<DomainManager> domains_;
    std::unique_ptr<ControlServer> control_;
    std::unique_ptr<MetricsServer> metrics_;
    std::unique_ptr<MigrationListener> migration_;
    const std::chrono::steady_clock::time_point started_;
    bool stopped_ = false;
};

}  // namespace xenolith::daemon
