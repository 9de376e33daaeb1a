#include "toolstack/xn/run.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <thread>

#include "abi/xen.hpp"
#include "backends/xenstored/socket_server.hpp"
#include "base/error.hpp"
#include "boot/elf_image.hpp"
#include "boot/pv_builder.hpp"
#include "hv/hypervisor.hpp"
#include "toolstack/launch/disk_device.hpp"
#include "toolstack/launch/domain_params.hpp"
#include "toolstack/launch/nic_device.hpp"
#include "toolstack/launch/pv_guest.hpp"
#include "toolstack/launch/shutdown_policy.hpp"
#include "toolstack/xlcfg/domain_config.hpp"
#include "toolstack/xn/stdin_forwarder.hpp"

namespace xenolith::xn {

namespace {

// Destroys a domain that was not handed over: create is all-or-nothing.
class DomainGuard {
  public:
    DomainGuard(hv::Hypervisor& hv, std::shared_ptr<hv::Domain> d) : hv_(hv), d_(std::move(d)) {}
    ~DomainGuard() {
        if (d_) hv_.destroy_domain(d_->id());
    }
    hv::Domain& operator*() const { return *d_; }
    hv::Domain* operator->() const { return d_.get(); }

  private:
    hv::Hypervisor& hv_;
    std::shared_ptr<hv::Domain> d_;
};

// SIGINT/SIGTERM end the guest: they are blocked in every thread and taken by a waiter
// that destroys the running domain. The vCPU threads' own kick signal stays unblocked.
class InterruptWatcher {
  public:
    InterruptWatcher() {
        sigemptyset(&set_);
        sigaddset(&set_, SIGINT);
        sigaddset(&set_, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set_, nullptr);
        // Detached: sigwait cannot be cancelled cleanly, and the process ends right after run.
        std::thread([this] {
            int sig = 0;
            if (sigwait(&set_, &sig) == 0) {
                interrupted_.store(sig);
                std::lock_guard lock(mutex_);
                if (auto d = current_.lock()) d->destroy();
            }
        }).detach();
    }
    void watch(const std::shared_ptr<hv::Domain>& d) {
        std::lock_guard lock(mutex_);
        current_ = d;
        if (interrupted_.load()) d->destroy();
    }
    int interrupted() const { return interrupted_.load(); }

  private:
    sigset_t set_;
    std::mutex mutex_;
    std::weak_ptr<hv::Domain> current_;
    std::atomic<int> interrupted_{0};
};

void note(const RunOptions& o, const std::string& text) {
    if (!o.quiet) std::fprintf(stderr, "xn: %s\n", text.c_str());
}

}  // namespace

int run_command(const RunOptions& options) {
    xlcfg::DomainConfig cfg;
    try {
        xlcfg::Config config = xlcfg::Config::load(options.config_path);
        for (const auto& o : options.overrides) config.apply_override(o);
        cfg = xlcfg::to_domain_config(config);
    } catch (const Error& e) {
        std::fprintf(stderr, "xn: %s\n", e.what());
        return kExitError;
    }
    for (const auto& w : cfg.warnings) std::fprintf(stderr, "%s\n", w.c_str());

    static InterruptWatcher interrupts;
    try {
        launch::require_supported_type(cfg, options.config_path);
        if (cfg.type != xlcfg::DomainType::Pv)
            throw Error(options.config_path + ": type = \"" +
                        std::string(xlcfg::to_string(cfg.type)) +
                        "\": xn run boots PV guests only; xn create runs PVH guests");
        boot::ElfImage image = boot::ElfImage::load(cfg.kernel);
        hv::Hypervisor hv;
        launch::StoreService store(hv);
        std::unique_ptr<xenstored::SocketServer> store_socket;
        if (!options.xenstore_socket.empty()) {
            store_socket =
                std::make_unique<xenstored::SocketServer>(store.daemon(), options.xenstore_socket);
            note(options, "xenstore on " + options.xenstore_socket);
        }
        for (unsigned boots = 1;; ++boots) {
            DomainGuard domain(hv, hv.create_domain(launch::domain_params(cfg)));
            // Console output (ring and console_io) goes to stdout and, if asked, to the
            // domain's log, as xenconsoled's guest-<name>.log; the console is destroyed
            // before the domain, after a last drain.
            auto log = std::make_shared<UniqueFd>();
            if (!options.console_log_dir.empty()) {
                std::string path = options.console_log_dir + "/guest-" + cfg.name + ".log";
                log->reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
                if (!*log) throw SystemError("cannot open the console log " + path, errno);
            }
            launch::PvGuest guest = launch::setup_pv_guest(
                hv, *domain, image, cfg.cmdline,
                [log](std::string_view text) {
                    ssize_t rc = ::write(STDOUT_FILENO, text.data(), text.size());
                    if (*log) rc = ::write(log->get(), text.data(), text.size());
                    (void)rc;
                },
                &store);
            if (cfg.vcpus < cfg.maxvcpus)
                store.set_vcpus_online(domain->id(), cfg.vcpus, cfg.maxvcpus);
            launch::attach_disks(*guest.devices, hv.find(domain->id()), cfg.disk_configs, "");
            launch::attach_vifs(*guest.devices, hv.find(domain->id()), cfg.vif_configs);
            StdinForwarder keyboard(*guest.console);
            note(options, "domain " + std::to_string(domain->id()) + " (" + cfg.name +
                              ") booting " + cfg.kernel + ", " + std::to_string(cfg.memory_mib) +
                              " MiB, " + std::to_string(cfg.vcpus) + " vCPU" +
                              (cfg.vcpus > 1 ? "s" : "") + ", on " + domain->platform_name() +
                              " (" + domain->platform_reason() + ")");
            domain->start();
            interrupts.watch(hv.find(domain->id()));
            hv::DomainState end = domain->wait_for_stop();
            if (int sig = interrupts.interrupted()) {
                note(options,
                     std::string("interrupted by ") + strsignal(sig) + "; domain destroyed");
                return 128 + sig;
            }
            const unsigned reason = launch::stop_reason(*domain);
            if (end == hv::DomainState::Crashed)
                std::fprintf(stderr, "%s\n",
                             domain->crash_report().empty()
                                 ? "the guest reported a crash (SHUTDOWN_crash)"
                                 : domain->crash_report().c_str());
            // Without a daemon nothing is kept and no core is written: the action only
            // decides whether the guest boots again.
            const bool restart = launch::restarts(launch::shutdown_action(cfg, reason));
            note(options,
                 "domain " + std::to_string(domain->id()) + " " +
                     (end == hv::DomainState::Crashed
                          ? "crashed"
                          : std::string("shut down (") + hv::shutdown_reason_name(reason) + ")") +
                     (restart ? "; restarting" : ""));
            if (uint64_t unknown = domain->unknown_hypercalls())
                note(options, "the guest made " + std::to_string(unknown) + " unknown hypercall" +
                                  (unknown > 1 ? "s" : "") + " (answered -ENOSYS)");
            if (restart) continue;
            if (end == hv::DomainState::Crashed) return kExitCrashed;
            if (reason == SHUTDOWN_poweroff)
                return static_cast<int>(domain->exit_status().value_or(0) & 0xff);
            return 0;
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "xn: %s\n", e.what());
        return kExitError;
    }
}

}  // namespace xenolith::xn
