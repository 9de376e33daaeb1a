#include "tests/integration/daemon_harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

#include "toolstack/api/protocol.hpp"

extern char** environ;

namespace xenolith::integration {

// ---- small helpers ---------------------------------------------------------------------

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (Clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(step);
    }
}

std::string read_text_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return {};
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

bool path_exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::vector<uint64_t> numbers_after(const std::string& text, const std::string& key) {
    std::vector<uint64_t> out;
    const std::regex re(key + "([0-9]+)");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
         ++it)
        out.push_back(std::stoull((*it)[1].str()));
    return out;
}

size_t count_of(std::string_view text, std::string_view needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string_view::npos;
         at = text.find(needle, at + needle.size()))
        ++n;
    return n;
}

unsigned host_cpus() {
    long n = ::sysconf(_SC_NPROCESSORS_CONF);
    return n > 0 ? static_cast<unsigned>(n) : 1;
}

// ---- /proc -----------------------------------------------------------------------------

namespace {

size_t count_entries(const std::string& dir) {
    size_t n = 0;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return 0;
    while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
    ::closedir(d);
    return n;
}

}  // namespace

// Processes whose parent is `pid`: the fourth field of /proc/<p>/stat, after the name.
size_t count_children(pid_t pid) {
    size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        const std::string stat = read_text_file(entry.path() / "stat");
        const size_t paren = stat.rfind(") ");
        if (paren == std::string::npos) continue;
        unsigned long ppid = 0;
        if (std::sscanf(stat.c_str() + paren + 2, "%*c %lu", &ppid) == 1 &&
            ppid == static_cast<unsigned long>(pid))
            ++n;
    }
    return n;
}

ProcessCounters process_counters(pid_t pid) {
    const std::string proc = "/proc/" + std::to_string(pid);
    ProcessCounters c;
    c.fds = count_entries(proc + "/fd");
    c.threads = count_entries(proc + "/task");
    c.children = count_children(pid);
    for (const auto& line : split_lines(read_text_file(proc + "/status")))
        if (starts_with(line, "VmRSS:")) c.rss_kib = std::strtoull(line.c_str() + 6, nullptr, 10);
    return c;
}

bool process_running(pid_t pid) {
    if (pid <= 0) return false;
    std::string stat = read_text_file("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(") ");
    if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
    char state = stat[paren + 2];
    return state != 'Z' && state != 'X';
}

std::string process_cmdline(pid_t pid) {
    std::string s = read_text_file("/proc/" + std::to_string(pid) + "/cmdline");
    for (char& c : s)
        if (c == '\0') c = ' ';
    return s;
}

// ---- Subprocess ------------------------------------------------------------------------

Subprocess::Subprocess(const std::vector<std::string>& argv) {
    // stdin is a socket, not a pipe: writing after the child has gone then fails with
    // EPIPE (MSG_NOSIGNAL) instead of killing the test with SIGPIPE.
    int in[2], out[2], err[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
        ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
        ADD_FAILURE() << "socketpair/pipe2: " << std::strerror(errno);
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[1], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    started_ = Clock::now();
    int rc = ::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[1]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[0];
    out_ = out[0];
    err_ = err[0];
    if (rc != 0) {
        ADD_FAILURE() << "posix_spawn(" << argv[0] << "): " << std::strerror(rc);
        pid_ = -1;
        reaped_ = true;
    }
}

Subprocess::~Subprocess() {
    if (!reaped_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);  // the child this object started
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    for (int fd : {in_, out_, err_})
        if (fd >= 0) ::close(fd);
}

bool Subprocess::write_stdin(std::string_view bytes) {
    if (in_ < 0) return false;
    while (!bytes.empty()) {
        ssize_t n = ::send(in_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

void Subprocess::close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
}

bool Subprocess::pump(std::chrono::milliseconds wait) {
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    if (out_ < 0 && err_ < 0) return false;
    int n = ::poll(fds, 2, static_cast<int>(wait.count()));
    if (n <= 0) return true;
    int* ends[2] = {&out_, &err_};
    std::string* sinks[2] = {&result_.out, &result_.err};
    for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[4096];
        ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
            sinks[i]->append(buf, static_cast<size_t>(got));
        } else if (got == 0 || errno != EINTR) {
            ::close(*ends[i]);
            *ends[i] = -1;
        }
    }
    return out_ >= 0 || err_ >= 0;
}

bool Subprocess::read_until(const std::function<bool(const std::string&)>& done,
                            std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (done(result_.out)) return true;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        if (!pump(std::min(left, std::chrono::milliseconds(50)))) return done(result_.out);
    }
}

ProcessResult Subprocess::finish(std::chrono::milliseconds timeout) {
    if (reaped_) return result_;
    auto deadline = Clock::now() + timeout;
    int status = 0;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            result_.timed_out = true;
            ::kill(pid_, SIGKILL);  // the child this object started
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
            // What it wrote before it died (bounded: a grandchild may hold the pipes).
            for (int i = 0; i < 10 && pump(std::chrono::milliseconds(0)); ++i) {
            }
            break;
        }
        if (!pump(std::min(left, std::chrono::milliseconds(20)))) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) break;
            std::this_thread::sleep_for(2ms);
        }
    }
    reaped_ = true;
    result_.wall = Clock::now() - started_;
    if (WIFEXITED(status)) result_.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result_.term_signal = WTERMSIG(status);
    return result_;
}

// ---- the fixture -----------------------------------------------------------------------

void DaemonTest::SetUp() {
    IntegrationTest::SetUp();
    if (HasFatalFailure()) return;
    std::string problem = executable_problem(kXenolithdPath);
    ASSERT_TRUE(problem.empty()) << problem;
    ASSERT_FALSE(dir_.path().empty());
    run_dir_ = dir_.path() + "/run";
    log_dir_ = run_dir_ + "/log";
    ASSERT_EQ(::mkdir(run_dir_.c_str(), 0700), 0) << run_dir_ << ": " << std::strerror(errno);
    // Every xn of this test (and the daemon it may start) uses this test's directories,
    // never the host's /run/xenolith; it starts the xenolithd built with it.
    ::setenv("XENOLITH_RUN_DIR", run_dir_.c_str(), 1);
    ::setenv("XENOLITH_LOG_DIR", log_dir_.c_str(), 1);
    ::setenv("XENOLITH_DAEMON", kXenolithdPath, 1);
}

void DaemonTest::TearDown() {
    if (run_dir_.empty()) return;
    if (HasFailure()) {
        std::cerr << "---- xenolithd's stdout/stderr ----\n"
                  << read_text_file(dir_.path() + "/xenolithd.out");
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(log_dir_, ec)) {
            std::string name = e.path().filename().string();
            if (name.size() > 4 && name.substr(name.size() - 4) == ".log") {
                std::string text = read_text_file(e.path().string());
                if (text.size() > 6000) text = "...\n" + text.substr(text.size() - 6000);
                std::cerr << "---- " << name << " ----\n" << text;
            }
        }
        std::cerr << "-----------------------------------\n";
    }
    end_daemons();
    std::error_code ec;
    std::filesystem::remove_all(run_dir_, ec);
    ::unsetenv("XENOLITH_RUN_DIR");
    ::unsetenv("XENOLITH_LOG_DIR");
    ::unsetenv("XENOLITH_DAEMON");
}

void DaemonTest::end_daemons() {
    if (daemon_pid_ > 0) {
        ::kill(daemon_pid_, SIGKILL);  // the daemon this test forked
        while (::waitpid(daemon_pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
        daemon_pid_ = -1;
    }
    // A daemon that xn started for this test: known by adopt_daemon() or by the pid file,
    // and ended only when its command line names this test's run directory.
    std::vector<pid_t> others;
    if (adopted_pid_ > 0) others.push_back(adopted_pid_);
    if (pid_t p = static_cast<pid_t>(std::atoi(read_text_file(pid_file()).c_str())); p > 0)
        others.push_back(p);
    for (pid_t p : others) {
        if (!process_running(p)) continue;
        std::string cmd = process_cmdline(p);
        if (cmd.find("xenolithd") == std::string::npos || cmd.find(run_dir_) == std::string::npos)
            continue;
        ::kill(p, SIGKILL);
        if (!eventually([p] { return !process_running(p); }, 5s))
            ADD_FAILURE() << "xenolithd pid " << p << " did not die";
    }
}

bool DaemonTest::start_daemon(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kXenolithdPath, "-q",        "--run-dir",
                                     run_dir_,       "--log-dir", log_dir_};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::string out_path = dir_.path() + "/xenolithd.out";
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) {
        ADD_FAILURE() << out_path << ": " << std::strerror(errno);
        return false;
    }
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        ADD_FAILURE() << "fork: " << std::strerror(errno);
        ::close(out);
        return false;
    }
    if (pid == 0) {
        // Only async-signal-safe calls here. The daemon dies with this test process even if
        // ctest kills it before TearDown runs.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0) ::dup2(null, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        // Nothing else of the test's (or ctest's) descriptors: the daemon's own fd count
        // is then the same wherever the test runs.
        ::close_range(3, ~0u, 0);
        ::execve(cargv[0], cargv.data(), environ);
        ::_exit(127);
    }
    ::close(out);
    daemon_pid_ = pid;
    bool exited = false;
    bool ready = eventually(
        [&] {
            int status = 0;
            if (::waitpid(pid, &status, WNOHANG) == pid) {
                exited = true;
                return true;
            }
            try {
                auto client = api::Client::connect(control_socket());
                if (!client) return false;
                return client->call("hello").value("pid", -1) == pid;
            } catch (const std::exception&) {
                return false;
            }
        },
        10s);
    if (exited) {
        daemon_pid_ = -1;
        ADD_FAILURE() << "xenolithd exited at start:\n" << read_text_file(out_path);
        return false;
    }
    if (!ready)
        ADD_FAILURE() << "xenolithd did not answer on " << control_socket() << " within 10 s";
    return ready;
}

DaemonTest::DaemonExit DaemonTest::stop_daemon(int sig, std::chrono::milliseconds timeout) {
    DaemonExit e;
    if (daemon_pid_ <= 0) {
        ADD_FAILURE() << "no daemon to stop";
        return e;
    }
    auto start = Clock::now();
    ::kill(daemon_pid_, sig);
    int status = 0;
    bool done = eventually([&] { return ::waitpid(daemon_pid_, &status, WNOHANG) == daemon_pid_; },
                           timeout, 2ms);
    e.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (!done) {
        e.timed_out = true;
        ::kill(daemon_pid_, SIGKILL);
        while (::waitpid(daemon_pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    daemon_pid_ = -1;
    if (WIFEXITED(status)) e.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) e.term_signal = WTERMSIG(status);
    return e;
}

ProcessResult DaemonTest::xn(const std::vector<std::string>& args,
                             std::chrono::milliseconds timeout) {
    std::vector<std::string> argv = {kXnPath};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, timeout);
}

std::string DaemonTest::write_config(const std::string& file, const std::string& text) {
    return dir_.write(file, text);
}

std::string DaemonTest::config_text(const std::string& app, const std::string& name,
                                    const std::string& extra, const std::string& more) {
    return "name = \"" + name + "\"\n" +
           "type = \"pv\"\n"
           "kernel = \"" +
           guest_path(app) + "\"\n" +
           "memory = 32\n"
           "vcpus = 1\n"
           "extra = \"" +
           extra + "\"\n" + more;
}

bool DaemonTest::create_only(const std::string& app, const std::string& name,
                             const std::string& extra, const std::string& more,
                             const std::vector<std::string>& overrides) {
    std::string path = write_config(name + ".cfg", config_text(app, name, extra, more));
    std::vector<std::string> args = {"create", path};
    args.insert(args.end(), overrides.begin(), overrides.end());
    ProcessResult r = xn(args);
    if (r.exit_code != 0) ADD_FAILURE() << "xn create " << name << " failed: " << describe(r);
    return r.exit_code == 0;
}

std::optional<uint32_t> DaemonTest::create(const std::string& app, const std::string& name,
                                           const std::string& extra, const std::string& more,
                                           const std::vector<std::string>& overrides) {
    if (!create_only(app, name, extra, more, overrides)) return std::nullopt;
    ProcessResult id = xn({"domid", name});
    if (id.exit_code != 0) {
        ADD_FAILURE() << "xn domid " << name << ": " << describe(id);
        return std::nullopt;
    }
    return static_cast<uint32_t>(std::strtoul(id.out.c_str(), nullptr, 10));
}

std::vector<DaemonTest::ListRow> DaemonTest::list_rows() {
    ProcessResult r = xn({"list"});
    std::vector<ListRow> rows;
    if (r.exit_code != 0) {
        ADD_FAILURE() << "xn list: " << describe(r);
        return rows;
    }
    static const std::regex row(R"(^(\S+) +(\d+) +(\d+) +(\d+) +(\S{6}) +(\d+\.\d)$)");
    std::vector<std::string> lines = split_lines(r.out);
    for (size_t i = 1; i < lines.size(); ++i) {
        std::smatch m;
        if (!std::regex_match(lines[i], m, row)) {
            ADD_FAILURE() << "xn list row not in xl's format: '" << lines[i] << "'";
            continue;
        }
        rows.push_back({m[1], static_cast<uint32_t>(std::stoul(m[2])), m[5], lines[i]});
    }
    return rows;
}

std::vector<std::string> DaemonTest::list_names() {
    std::vector<std::string> names;
    for (const auto& r : list_rows()) names.push_back(r.name);
    return names;
}

nlohmann::json DaemonTest::list_long() {
    ProcessResult r = xn({"list", "-l"});
    if (r.exit_code != 0) {
        ADD_FAILURE() << "xn list -l: " << describe(r);
        return nlohmann::json::array();
    }
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded()) ADD_FAILURE() << "xn list -l is not JSON:\n" << r.out;
    return j;
}

nlohmann::json DaemonTest::long_entry(uint32_t domid) {
    nlohmann::json all = list_long();
    if (!all.is_array()) return nullptr;
    for (const auto& d : all)
        if (d.value("domid", ~0u) == domid) return d;
    return nullptr;
}

bool DaemonTest::wait_for_log(const std::string& file, std::string_view text,
                              std::chrono::milliseconds timeout, size_t times) const {
    return eventually([&] { return count_of(read_log(file), text) >= times; }, timeout);
}

ProcessCounters DaemonTest::counters_with_probe(pid_t pid) {
    std::unique_ptr<api::Client> probe;
    try {
        probe = api::Client::connect(control_socket());
        if (probe) probe->call("hello");
    } catch (const std::exception& e) {
        ADD_FAILURE() << "probe connection: " << e.what();
    }
    if (!probe) ADD_FAILURE() << "no daemon listens on " << control_socket();
    return process_counters(pid);
}

ProcessCounters DaemonTest::settled_counters(pid_t pid) {
    ProcessCounters last = counters_with_probe(pid);
    auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
        ProcessCounters now = counters_with_probe(pid);
        if (now.fds == last.fds && now.threads == last.threads) return now;
        last = now;
    }
    ADD_FAILURE() << "the daemon's fd and thread counts did not settle";
    return last;
}

ProcessCounters DaemonTest::wait_for_counters(pid_t pid, const ProcessCounters& expected,
                                              std::chrono::milliseconds timeout) {
    ProcessCounters now;
    eventually(
        [&] {
            now = counters_with_probe(pid);
            return now.fds == expected.fds && now.threads == expected.threads &&
                   now.children == expected.children;
        },
        timeout, 20ms);
    return now;
}

}  // namespace xenolith::integration
