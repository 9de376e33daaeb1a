#include "toolstack/xn/daemon_client.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "base/error.hpp"

extern char** environ;

namespace xenolith::xn {

namespace {

// XENOLITH_DAEMON, else the xenolithd beside this xn (a build tree or an install), else PATH.
std::string daemon_program() {
    if (const char* env = std::getenv("XENOLITH_DAEMON"); env && *env) return env;
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        auto beside = self.parent_path() / "xenolithd";
        if (::access(beside.c_str(), X_OK) == 0) return beside.string();
    }
    return "xenolithd";
}

// Runs `xenolithd --detach`, which returns once the daemon listens (or failed to start).
void start_daemon(const api::Paths& paths) {
    std::string program = daemon_program();
    std::vector<std::string> args = {program,       "--detach",  "--run-dir",
                                     paths.run_dir, "--log-dir", paths.log_dir};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    int rc = ::posix_spawnp(&pid, program.c_str(), nullptr, nullptr, argv.data(), environ);
    if (rc != 0) throw SystemError("cannot start " + program, rc);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    // A failure is fine when another xn started the daemon first: the connect below says.
}

}  // namespace

std::unique_ptr<api::Client> connect_daemon() {
    api::Paths paths = api::Paths::from_environment();
    if (auto c = api::Client::connect(paths.control_socket())) return c;
    start_daemon(paths);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
        if (auto c = api::Client::connect(paths.control_socket())) return c;
        if (std::chrono::steady_clock::now() > deadline)
            throw Error("xenolithd is not running and could not be started (see " + paths.log_dir +
                        "/xenolithd.log)");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

}  // namespace xenolith::xn
