// A program the I/O figures start beside the bench (`xn run`, wrk, nginx): stdout and
// stderr go to a file, so a chatty program never blocks on a full pipe and its output can be
// read while it runs. The destructor ends a program still running (SIGTERM, then SIGKILL
// after a grace period) and reaps it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xenolith::bench {

class HostProcess {
  public:
    // Starts argv[0] (looked up in PATH when it has no '/'), output to `output_path`.
    HostProcess(const std::vector<std::string>& argv, const std::string& output_path);
    ~HostProcess();
    HostProcess(const HostProcess&) = delete;
    HostProcess& operator=(const HostProcess&) = delete;

    // What it has written so far.
    std::string output() const;
    // Waits until its output holds `text` (true), or it exits, or `timeout_ms` pass (false).
    bool wait_for_output(const std::string& text, uint64_t timeout_ms);
    // Waits up to `timeout_ms` for it to exit; its wait status, or nothing on a timeout.
    std::optional<int> wait(uint64_t timeout_ms);
    // SIGTERM, up to `grace_ms` to exit, then SIGKILL; its wait status.
    int stop(uint64_t grace_ms = 3000);
    bool running();
    // "exit status N" / "killed by signal N".
    static std::string describe(int status);

  private:
    std::string output_path_;
    pid_t pid_ = -1;
    std::optional<int> status_;
};

// The program's path when `name` is found in PATH (or is an executable path), else "".
std::string find_program(const std::string& name);

}  // namespace xenolith::bench
