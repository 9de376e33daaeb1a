// xenolithd: one per host. Runs in the foreground (as a systemd service, or by hand) or,
// with --detach, forks into the background once it is ready, which is how `xn` starts it
// on demand.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "base/error.hpp"
#include "toolstack/daemon/daemon.hpp"
#include "toolstack/daemon/instance_lock.hpp"

using namespace xenolith;

namespace {

// Thousands of domains hold several fds each (VM, vCPU, memfd, eventfds).
void raise_fd_limit() {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &r);
    }
}

void make_dir(const std::string& dir, mode_t mode) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw Error("cannot create " + dir + ": " + ec.message());
    ::chmod(dir.c_str(), mode);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "xenolithd: the Xenolith hypervisor daemon (owns every domain; serves the control API and "
        "xenstore)"};
    daemon::DaemonOptions options;
    options.paths = api::Paths::from_environment();
    bool detach = false;
    bool quiet = false;
    double shutdown_timeout_s = 30;
    app.add_option("--run-dir", options.paths.run_dir, "socket and pid file directory")
        ->capture_default_str();
    app.add_option("--log-dir", options.paths.log_dir,
                   "xenolithd.log, xl-<name>.log, guest-<name>.log")
        ->capture_default_str();
    app.add_option("--migrate-listen", options.migrate_address,
                   "receive `xn migrate` on [tcp:]HOST:PORT (unauthenticated: trusted networks "
                   "only, as xl's -s)");
    app.add_option("--metrics", options.metrics_address,
                   "serve Prometheus text at unix:PATH or 127.0.0.1:PORT");
    app.add_option("--shutdown-timeout", shutdown_timeout_s,
                   "seconds to wait for guests to power off on SIGTERM before destroying them")
        ->check(CLI::Range(0.0, 3600.0))
        ->capture_default_str();
    app.add_option("--kvm", options.kvm_path, "the KVM device")->capture_default_str();
    std::string accel;
    app.add_option("--accel", accel,
                   "where domains whose config has no accel= run: auto (KVM where /dev/kvm can "
                   "run guests, else the process platform), kvm or process; default "
                   "XENOLITH_ACCEL, else auto")
        ->check(CLI::IsMember({"auto", "kvm", "process"}));
    app.add_flag("-d,--detach", detach,
                 "fork into the background once ready (logs go to the log directory only)");
    app.add_flag("-q,--quiet", quiet, "do not copy the log to stderr");
    app.set_version_flag("-V,--version", daemon::kDaemonVersion);
    CLI11_PARSE(app, argc, argv);
    options.shutdown_timeout =
        std::chrono::milliseconds(static_cast<long>(shutdown_timeout_s * 1000));
    options.log_to_stderr = !quiet && !detach;

    // Signals are taken by sigwait on the main thread: block them before any thread starts.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    try {
        options.accel =
            accel.empty() ? platform::accel_from_environment() : *platform::parse_accel(accel);
        make_dir(options.paths.run_dir, 0700);
        daemon::InstanceLock lock(options.paths.pid_file());
        int ready[2] = {-1, -1};
        if (detach) {
            // Forked before any thread exists. The parent reports the child's readiness
            // (or its first error) and exits, so `xenolithd -d && xn list` just works.
            if (::pipe2(ready, O_CLOEXEC) != 0) throw SystemError("pipe", errno);
            pid_t child = ::fork();
            if (child < 0) throw SystemError("fork", errno);
            if (child > 0) {
                ::close(ready[1]);
                char buf[512];
                ssize_t n = ::read(ready[0], buf, sizeof buf);
                if (n == 2 && std::memcmp(buf, "ok", 2) == 0) ::_exit(0);
                std::fprintf(stderr, "xenolithd: %.*s\n", n > 0 ? static_cast<int>(n) : 0, buf);
                ::_exit(1);
            }
            ::close(ready[0]);
            ::setsid();
            lock.write_pid();
            int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
            if (null >= 0) {
                ::dup2(null, STDIN_FILENO);
                ::dup2(null, STDOUT_FILENO);
                ::dup2(null, STDERR_FILENO);
                ::close(null);
            }
        }
        std::unique_ptr<daemon::Daemon> d;
        try {
            d = std::make_unique<daemon::Daemon>(options);
        } catch (const std::exception& e) {
            if (detach) {
                ssize_t rc = ::write(ready[1], e.what(), std::strlen(e.what()));
                (void)rc;
            }
            throw;
        }
        if (detach) {
            ssize_t rc = ::write(ready[1], "ok", 2);
            (void)rc;
            ::close(ready[1]);
        }
        d->run_until(stop_signals);
        d.reset();
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xenolithd: %s\n", e.what());
        return 1;
    }
}
