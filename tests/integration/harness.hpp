// What the integration tests share: the paths CMake hands over, the precondition checks
// (which fail, never skip), a subprocess runner for `xn run`, temporary config files,
// process resource counts, and an in-process domain runner over the hv/boot API.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hv/domain.hpp"
#include "hv/hypervisor.hpp"
#include "toolstack/launch/pv_guest.hpp"

namespace xenolith::integration {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline constexpr const char* kXnPath = XN_PATH;
inline constexpr const char* kGuestDir = GUEST_DIR;
inline constexpr const char* kKvmPath = "/dev/kvm";
// Every app guest/CMakeLists.txt builds.
inline const std::vector<std::string> kApps = {
    "hello",   "spin",      "crash",    "smp",     "bench",   "first",   "pingpong",
    "echo",    "grantcopy", "xsprobe",  "xsbench", "hostile", "blktest", "blkbench",
    "nettest", "httpd",     "netbench", "debugee", "dirty"};

// Absolute path of a built guest app.
std::string guest_path(const std::string& app);

// Empty when the platform XENOLITH_ACCEL names can be used, else why not.
std::string platform_problem();
// Empty when `path` is an executable regular file, else why not.
std::string executable_problem(const std::string& path);

// Base fixture: fails (never skips) when the platform, `xn` or any guest image is missing.
class IntegrationTest : public ::testing::Test {
  protected:
    void SetUp() override;
};

// A fixture with its own in-process hypervisor; every domain left in it is destroyed after
// the test.
class HypervisorTest : public IntegrationTest {
  protected:
    void SetUp() override;
    void TearDown() override;
    hv::Hypervisor& hv() { return *hv_; }

    std::unique_ptr<hv::Hypervisor> hv_;
};

// ---- text ------------------------------------------------------------------------------
std::vector<std::string> split_lines(std::string_view text);
// The unsigned number after `prefix` on the first line starting with `prefix`.
std::optional<uint64_t> number_after(const std::vector<std::string>& lines,
                                     std::string_view prefix);
bool starts_with(std::string_view s, std::string_view prefix);

// ---- temporary files -------------------------------------------------------------------
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    // Writes `contents` to path()/name and returns the absolute path.
    std::string write(const std::string& name, std::string_view contents) const;
    // Names of the entries in the directory, sorted.
    std::vector<std::string> entries() const;

  private:
    std::string path_;
};

// An xl.cfg for one app, with an absolute kernel path.
struct GuestConfig {
    std::string name;
    std::string kernel;  // absolute
    unsigned memory_mib = 32;
    unsigned vcpus = 1;
    std::string extra;
    std::string text() const;
};
GuestConfig app_config(const std::string& app, const std::string& extra = "", unsigned vcpus = 1);

// ---- subprocesses ----------------------------------------------------------------------
struct ProcessResult {
    int exit_code = -1;  // -1 when killed by a signal
    int term_signal = 0;
    bool timed_out = false;
    std::string out;
    std::string err;
    std::chrono::nanoseconds wall{0};
};
// Called with the child's pid and what it printed so far, each time it prints.
using OutputHook = std::function<void(pid_t, const ProcessResult&)>;
// Runs argv[0] with stdin from /dev/null, collecting stdout and stderr; kills it (SIGKILL)
// when it outlives `timeout`.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const OutputHook& on_output = {});
// `xn run <config> [overrides...]`.
ProcessResult xn_run(const std::string& config_path, const std::vector<std::string>& args = {},
                     std::chrono::milliseconds timeout = 20s, const OutputHook& on_output = {});
std::string describe(const ProcessResult& r);

// ---- process resources -----------------------------------------------------------------
size_t open_fd_count();  // entries of /proc/self/fd
size_t thread_count();   // entries of /proc/self/task
// Polls until thread_count() == n or `timeout`; returns the last count. Threads that were
// joined are gone at once, but the kernel reaps a task entry a moment after it exits.
size_t wait_thread_count(size_t n, std::chrono::milliseconds timeout = 1s);

// ---- in-process domains ----------------------------------------------------------------
// Console output of one domain as complete lines, each with the host time it arrived
// (backends batch: one delivery may hold several lines, or part of one).
class ConsoleCapture {
  public:
    struct Line {
        Clock::time_point at;
        std::string text;  // with its '\n'
    };
    std::function<void(std::string_view)> sink();
    // Everything received, including an unfinished last line.
    std::string text() const;
    std::vector<std::string> lines() const;
    size_t lines_received() const;
    // The arrival time of the first line that starts with `prefix`.
    std::optional<Clock::time_point> time_of(std::string_view prefix) const;
    // Waits until some line starts with `prefix`.
    bool wait_for(std::string_view prefix, std::chrono::milliseconds timeout) const;
    // Waits until more than `n` lines have arrived.
    bool wait_for_more_than(size_t n, std::chrono::milliseconds timeout) const;

  private:
    mutable std::mutex mutex_;
    std::vector<Line> lines_;
    std::string partial_;
};

// A domain created and built from a guest app through hv::Hypervisor and
// launch::setup_pv_guest, with its console (ring and console_io) captured. The domain is destroyed
// when this goes away.
class ApiGuest {
  public:
    // With a `store`, the domain gets its xenstore nodes and a live store ring.
    ApiGuest(hv::Hypervisor& hv, const std::string& app, const std::string& cmdline,
             uint32_t vcpus = 1, uint64_t memory_mib = 32, const std::string& name = "",
             launch::StoreService* store = nullptr);
    ~ApiGuest();
    ApiGuest(const ApiGuest&) = delete;
    ApiGuest& operator=(const ApiGuest&) = delete;

    hv::Domain& domain() { return *domain_; }
    const std::shared_ptr<hv::Domain>& ptr() const { return domain_; }
    ConsoleCapture& console() { return *console_; }
    uint64_t hypercall_page() const { return hypercall_page_; }
    const boot::PvLayout& layout() const { return guest_.layout; }

    // Domain::start(), remembering when.
    void start(bool paused = false);
    // Host input for the guest's console ring.
    void console_input(std::string_view text) { guest_.console->input(text); }
    Clock::time_point started_at() const { return started_at_; }
    // Domain::wait_for_stop() on another thread, bounded by `timeout`: on timeout the test
    // fails, the domain is destroyed and nullopt returned. `stopped_at` is taken on that
    // thread the moment wait_for_stop returns.
    std::optional<hv::DomainState> wait_for_stop(std::chrono::milliseconds timeout);
    Clock::time_point stopped_at() const { return stopped_at_; }

  private:
    hv::Hypervisor& hv_;
    std::shared_ptr<hv::Domain> domain_;
    std::shared_ptr<ConsoleCapture> console_;
    launch::PvGuest guest_;
    uint64_t hypercall_page_ = 0;
    Clock::time_point started_at_{};
    Clock::time_point stopped_at_{};
};

// Guests that know each other's domid: both domains are created first (as a toolstack would
// tell them through xenstore), then each is built with the other's id on its command line.
class PeerGuestsTest : public IntegrationTest {
  protected:
    void TearDown() override;
    std::shared_ptr<hv::Domain> create(const std::string& name);
    launch::PvGuest& build(hv::Domain& d, const std::string& app, const std::string& cmdline,
                           ConsoleCapture& console);
    // Waits for the domain to stop (bounded: destroys it after 10 s) and returns its state.
    static hv::DomainState done(hv::Domain& d);
    // The text after `prefix` on the first line starting with it.
    static std::optional<std::string> after(const std::vector<std::string>& lines,
                                            std::string_view prefix);

    hv::Hypervisor hv_;
    std::vector<launch::PvGuest> guests_;  // declared after hv_: the consoles go first
};

// Milliseconds between two time points, as a double.
double ms_between(Clock::time_point a, Clock::time_point b);

}  // namespace xenolith::integration
