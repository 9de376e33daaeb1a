#include "toolstack/daemon/daemon.hpp"

#include <sys/utsname.h>

#include "abi/version.hpp"
#include "toolstack/daemon/host_cpus.hpp"
#include "toolstack/format/metrics_text.hpp"

namespace xenolith::daemon {

Daemon::Daemon(const DaemonOptions& options)
    : options_(options),
      log_(options.paths.log_dir, options.log_to_stderr),
      probe_(platform::probe_platforms(options.kvm_path)),
      hv_(options.accel, options.kvm_path),
      store_(hv_),
      started_(std::chrono::steady_clock::now()) {
    store_socket_ = std::make_unique<xenstored::SocketServer>(store_.daemon(),
                                                              options.paths.xenstored_socket());
    domains_ = std::make_unique<DomainManager>(hv_, store_, log_);
    if (!options.metrics_address.empty())
        metrics_ = std::make_unique<MetricsServer>(options.metrics_address,
                                                   [this] { return metrics_text(); });
    if (!options.migrate_address.empty())
        migration_ = std::make_unique<MigrationListener>(
            parse_tcp_address(options.migrate_address, "--migrate-listen"),
            [this](int fd, const std::string& peer) { domains_->receive_migration(fd, peer); });
    control_ = std::make_unique<ControlServer>(options.paths.control_socket(), handlers());
    log_.info(
        std::string(kDaemonVersion) + " ready: control " + options.paths.control_socket() +
        ", xenstore " + options.paths.xenstored_socket() + ", platform " + platform_text() +
        (metrics_ ? ", metrics " + options.metrics_address +
                        (metrics_->port() ? " (port " + std::to_string(metrics_->port()) + ")" : "")
                  : "") +
        (migration_ ? ", migrations on " + options.migrate_address + " (port " +
                          std::to_string(migration_->port()) + ")"
                    : ""));
}

std::string Daemon::platform_text() const {
    const platform::Platforms::Choice c = hv_.platforms().default_choice();
    return std::string(c.platform.name()) + " (" + c.why + ")";
}

Daemon::~Daemon() {
    stop();
}

void Daemon::run_until(const sigset_t& signals) {
    int sig = 0;
    while (sigwait(&signals, &sig) != 0) {
    }
    log_.info(std::string("received ") + ::strsignal(sig) + "; stopping");
    stop();
}

void Daemon::stop() {
    if (stopped_) return;
    stopped_ = true;
    control_->stop_accepting();
    migration_.reset();  // no domain comes in while the others are shut down
    size_t running = domains_->size();
    size_t forced = domains_->shutdown_all(options_.shutdown_timeout);
    control_->stop();
    metrics_.reset();
    log_.info("stopped: " + std::to_string(running) + " domain(s) at stop, " +
              std::to_string(forced) + " destroyed after the " +
              std::to_string(options_.shutdown_timeout.count()) + " ms timeout");
}

api::HostInfo Daemon::host_info() const {
    api::HostInfo h;
    utsname u{};
    ::uname(&u);
    h.host = u.nodename;
    h.release = u.release;
    h.version = u.version;
    h.machine = u.machine;
    h.nr_cpus = host_cpu_count();
    h.max_cpu_id = h.nr_cpus - 1;
    const platform::Platforms::Choice platform = hv_.platforms().default_choice();
    h.cpu_khz = platform.platform.tsc_khz();
    h.cpu_model = probe_.cpu_model;
    h.virt_caps = probe_.kvm_hvm ? "pv pvh" : "pv";
    h.platform = platform.platform.name();
    h.platform_reason = platform.why;
    h.total_memory_mib = hv::Hypervisor::host_total_memory() >> 20;
    h.free_memory_mib = hv_.free_memory() >> 20;
    h.xen_major = abi::kXenMajor;
    h.xen_minor = abi::kXenMinor;
    h.xen_extra = abi::kXenExtraVersion;
    h.xen_caps = abi::kXenCapabilities;
    h.xen_scheduler = hv_.scheduling().scheduler_name(sched::kPool0);  // Pool-0's, as xl info shows
    h.kvm_flavour = probe_.kvm ? probe_.kvm_flavour : "none";
    h.daemon_version = kDaemonVersion;
    h.daemon_uptime_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                   std::chrono::steady_clock::now() - started_)
                                                   .count());
    h.nr_domains = static_cast<uint32_t>(domains_->size());
    return h;
}

std::string Daemon::metrics_text() const {
    return format::prometheus_text(host_info(), domains_->list(), domains_->vcpus(std::nullopt));
}

}  // namespace xenolith::daemon
