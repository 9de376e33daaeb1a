// What the xenolithd integration tests share: one daemon per test in its own run and log
// directories, `xn` run against it, the daemon's /proc counters (descriptors, threads,
// RSS), its logs, and a subprocess with a writable stdin for `xn console`.
//
// Every test's daemon is its own child (forked with PR_SET_PDEATHSIG, so it dies with the
// test even when ctest kills the test on a timeout); a daemon `xn` started on demand is
// found through the pid file. TearDown ends whichever is alive and removes the
// directories, so no daemon and no domain outlives its test, passed or failed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.hpp"

namespace xenolith::integration {

inline constexpr const char* kXenolithdPath = XENOLITH_PATH;

// ---- small helpers ---------------------------------------------------------------------
// Polls `pred` every `step` until it holds or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = 10ms);
std::string read_text_file(const std::string& path);  // "" when missing
bool path_exists(const std::string& path);
// How many times `needle` occurs in `text`.
size_t count_of(std::string_view text, std::string_view needle);
// Every decimal number that follows `key` in `text`, in order ("spin: iter=" in a log).
std::vector<uint64_t> numbers_after(const std::string& text, const std::string& key);
unsigned host_cpus();  // sysconf(_SC_NPROCESSORS_CONF), as the daemon counts them

// ---- another process's resources, from /proc/<pid> -------------------------------------
struct ProcessCounters {
    size_t fds = 0;
    size_t threads = 0;
    uint64_t rss_kib = 0;
    size_t children =
        0;  // processes whose parent it is, zombies too (stubs, on the process platform)
};
ProcessCounters process_counters(pid_t pid);
// Alive and not a zombie.
bool process_running(pid_t pid);
std::string process_cmdline(pid_t pid);  // NULs as spaces

// ---- a child with stdin, stdout and stderr on pipes ------------------------------------
// For commands that need input while they run (`xn console`). Killed (SIGKILL) and reaped
// by the destructor if still running.
class Subprocess {
  public:
    explicit Subprocess(const std::vector<std::string>& argv);
    ~Subprocess();
    Subprocess(const Subprocess&) = delete;
    Subprocess& operator=(const Subprocess&) = delete;

    pid_t pid() const { return pid_; }
    bool write_stdin(std::string_view bytes);
    void close_stdin();
    // Collects output until `done(stdout so far)` holds or `timeout`; returns whether it held.
    bool read_until(const std::function<bool(const std::string&)>& done,
                    std::chrono::milliseconds timeout);
    // Collects output until both pipes close and the child exits; SIGKILL after `timeout`.
    ProcessResult finish(std::chrono::milliseconds timeout);
    const std::string& out() const { return result_.out; }

  private:
    // One poll round of at most `wait`; false when both pipes are closed.
    bool pump(std::chrono::milliseconds wait);

    pid_t pid_ = -1;
    int in_ = -1, out_ = -1, err_ = -1;
    Clock::time_point started_;
    ProcessResult result_;
    bool reaped_ = false;
};

// ---- the fixture -----------------------------------------------------------------------
class DaemonTest : public IntegrationTest {
  protected:
    // Checks xenolithd too; makes the run and log directories and points XENOLITH_RUN_DIR
    // and XENOLITH_LOG_DIR at them, so every `xn` of this test talks to this test's daemon.
    void SetUp() override;
    // On failure prints the daemon's logs; ends any daemon still alive; removes the dirs.
    void TearDown() override;

    // Starts `xenolithd -q --run-dir R --log-dir L args...` in the foreground and waits
    // until it answers on its control socket. Fails the test (ADD_FAILURE) if it does not.
    bool start_daemon(const std::vector<std::string>& args = {});
    pid_t daemon_pid() const { return daemon_pid_; }
    // A daemon this test did not fork (one `xn` started): ended by TearDown.
    void adopt_daemon(pid_t pid) { adopted_pid_ = pid; }

    struct DaemonExit {
        int exit_code = -1;  // -1: killed by a signal or still running
        int term_signal = 0;
        bool timed_out = false;
        std::chrono::milliseconds took{0};
    };
    // Sends `sig` to the daemon this test forked and waits for it to exit; SIGKILL after
    // `timeout` (then timed_out is set).
    DaemonExit stop_daemon(int sig, std::chrono::milliseconds timeout);

    // `xn args...` with this test's environment.
    ProcessResult xn(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 15s);
    // Writes `text` as dir/<file> and returns its absolute path.
    std::string write_config(const std::string& file, const std::string& text);
    // An xl.cfg for `app` named `name` (32 MiB, one vCPU), with `more` lines appended.
    static std::string config_text(const std::string& app, const std::string& name,
                                   const std::string& extra, const std::string& more = "");
    // Writes <name>.cfg and runs `xn create` on it; false (and a test failure) when xn
    // failed. For guests that may be gone before `xn domid` could ask (a crash).
    bool create_only(const std::string& app, const std::string& name, const std::string& extra,
                     const std::string& more = "", const std::vector<std::string>& overrides = {});
    // create_only(), then `xn domid`: the new domid, or nullopt (and a test failure).
    std::optional<uint32_t> create(const std::string& app, const std::string& name,
                                   const std::string& extra, const std::string& more = "",
                                   const std::vector<std::string>& overrides = {});

    // `xn list`: the rows after the header, as (name, domid, state letters).
    struct ListRow {
        std::string name;
        uint32_t domid = 0;
        std::string state;
        std::string line;
    };
    std::vector<ListRow> list_rows();
    std::vector<std::string> list_names();
    // `xn list -l` parsed.
    nlohmann::json list_long();
    // The `xn list -l` entry for `domid`, or null.
    nlohmann::json long_entry(uint32_t domid);

    // Log files of this test's daemon.
    std::string log_path(const std::string& file) const { return log_dir_ + "/" + file; }
    std::string read_log(const std::string& file) const { return read_text_file(log_path(file)); }
    bool wait_for_log(const std::string& file, std::string_view text,
                      std::chrono::milliseconds timeout, size_t times = 1) const;

    // The daemon's counters, measured while one idle probe connection is open. The probe's
    // accept reaps the threads of finished sessions (the daemon does that when a client
    // connects, else once a second), so two measurements compare without waiting for the
    // reaper; the probe's own session thread and socket are in every measurement.
    ProcessCounters counters_with_probe(pid_t pid);
    // A measurement that repeats itself: the daemon is idle.
    ProcessCounters settled_counters(pid_t pid);
    // Waits until fds and threads equal `expected`'s; returns the last measurement.
    ProcessCounters wait_for_counters(pid_t pid, const ProcessCounters& expected,
                                      std::chrono::milliseconds timeout);

    TempDir dir_;          // configs; the run dir inside it
    std::string run_dir_;  // xenolithd.sock, xenolithd.pid, xenstored.sock
    std::string log_dir_;  // run_dir_/log
    std::string control_socket() const { return run_dir_ + "/xenolithd.sock"; }
    std::string pid_file() const { return run_dir_ + "/xenolithd.pid"; }
    std::string xenstored_socket() const { return run_dir_ + "/xenstored.sock"; }

  private:
    void end_daemons();
    pid_t daemon_pid_ = -1;   // forked by this test
    pid_t adopted_pid_ = -1;  // started by xn
};

}  // namespace xenolith::integration
