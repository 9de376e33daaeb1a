#include "bench/host_process.hpp"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/error.hpp"

extern char** environ;

namespace xenolith::bench {

namespace {

using Clock = std::chrono::steady_clock;

void nap() {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

}  // namespace

std::string find_program(const std::string& name) {
    if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
    const char* path = std::getenv("PATH");
    // nginx lives in /usr/sbin, which a non-root PATH may lack.
    std::stringstream dirs(std::string(path ? path : "/usr/bin:/bin") + ":/usr/sbin:/sbin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty()) continue;
        std::string candidate = dir + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return "";
}

HostProcess::HostProcess(const std::vector<std::string>& argv, const std::string& output_path)
    : output_path_(output_path) {
    std::string program = find_program(argv.at(0));
    if (program.empty()) throw Error(argv[0] + " is not installed (make deps)");
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = ::posix_spawn(&pid_, program.c_str(), &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw SystemError("posix_spawn " + program, rc);
}

HostProcess::~HostProcess() {
    if (!status_) stop();
}

std::string HostProcess::output() const {
    std::ifstream in(output_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool HostProcess::running() {
    if (status_) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) status_ = status;
    return !status_;
}

bool HostProcess::wait_for_output(const std::string& text, uint64_t timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (output().find(text) != std::string::npos) return true;
        if (!running() || Clock::now() > deadline) return output().find(text) != std::string::npos;
        nap();
    }
}

std::optional<int> HostProcess::wait(uint64_t timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (running()) {
        if (Clock::now() > deadline) return std::nullopt;
        nap();
    }
    return status_;
}

int HostProcess::stop(uint64_t grace_ms) {
    if (running()) {
        ::kill(pid_, SIGTERM);
        if (!wait(grace_ms)) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            status_ = status;
        }
    }
    return *status_;
}

std::string HostProcess::describe(int status) {
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    return "wait status " + std::to_string(status);
}

}  // namespace xenolith::bench
