// xenolithd as a process: one per run directory, started on demand by `xn`, stopping on
// SIGTERM by asking guests to power off and destroying those that do not in time; and
// its Prometheus endpoint.
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <regex>
#include <thread>

#include "base/unique_fd.hpp"
#include "tests/integration/daemon_harness.hpp"

namespace xenolith::integration {
namespace {

using Lines = std::vector<std::string>;

class DaemonProcess : public DaemonTest {};

TEST_F(DaemonProcess, SecondInstanceOnTheSameRunDirIsRefused) {
    ASSERT_TRUE(start_daemon());
    const std::string pid = std::to_string(daemon_pid());
    for (bool detach : {false, true}) {
        std::vector<std::string> argv = {kXenolithdPath, "-q",        "--run-dir",
                                         run_dir_,       "--log-dir", log_dir_};
        if (detach) argv.push_back("--detach");
        ProcessResult r = run_process(argv, 10s);
        EXPECT_NE(r.exit_code, 0) << describe(r);
        EXPECT_EQ(r.term_signal, 0) << describe(r);
        EXPECT_EQ(r.err, "xenolithd: xenolithd is already running (pid " + pid + ", lock " +
                             pid_file() + ")\n")
            << describe(r);
    }
    // The first one is untouched: it still serves, and the pid file still names it.
    EXPECT_EQ(read_text_file(pid_file()), pid + "\n");
    ProcessResult list = xn({"list"});
    EXPECT_EQ(list.exit_code, 0) << describe(list);
    EXPECT_TRUE(process_running(daemon_pid()));
}

TEST_F(DaemonProcess, XnStartsTheDaemonOnDemand) {
    ASSERT_FALSE(path_exists(pid_file()));
    ProcessResult r = xn({"list"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.err, "");
    Lines lines = split_lines(r.out);
    ASSERT_EQ(lines.size(), 2u) << describe(r);
    EXPECT_EQ(lines[0],
              "Name                                        ID   Mem VCPUs\tState\tTime(s)");
    EXPECT_TRUE(starts_with(lines[1], "Domain-0                                     0 "))
        << lines[1];

    ASSERT_TRUE(path_exists(pid_file()));
    pid_t pid = static_cast<pid_t>(std::atoi(read_text_file(pid_file()).c_str()));
    ASSERT_GT(pid, 0);
    adopt_daemon(pid);  // TearDown ends it whatever happens below
    EXPECT_TRUE(process_running(pid));
    std::string cmd = process_cmdline(pid);
    EXPECT_NE(cmd.find("xenolithd --detach --run-dir " + run_dir_ + " --log-dir " + log_dir_),
              std::string::npos)
        << cmd;
    EXPECT_TRUE(path_exists(control_socket()));
    EXPECT_TRUE(path_exists(log_path("xenolithd.log")));

    // The next xn uses it rather than starting another.
    ASSERT_EQ(xn({"list"}).exit_code, 0);
    EXPECT_EQ(std::atoi(read_text_file(pid_file()).c_str()), pid);

    // It stops on SIGTERM like any other, and takes its files with it.
    ::kill(pid, SIGTERM);
    EXPECT_TRUE(eventually([&] { return !process_running(pid); }, 10s));
    EXPECT_FALSE(path_exists(pid_file()));
    EXPECT_FALSE(path_exists(control_socket()));
}

TEST_F(DaemonProcess, SigtermPowersOffGuestsThatHonourShutdownAndExitsPromptly) {
    ASSERT_TRUE(start_daemon());  // the default --shutdown-timeout: 30 s
    ASSERT_TRUE(create("hello", "first", "sleep_ms=100000"));
    ASSERT_TRUE(create("hello", "second", "sleep_ms=100000"));
    ASSERT_TRUE(wait_for_log("guest-first.log", "hello: vcpus=1", 10s));
    ASSERT_TRUE(wait_for_log("guest-second.log", "hello: vcpus=1", 10s));

    DaemonExit e = stop_daemon(SIGTERM, 20s);
    EXPECT_FALSE(e.timed_out);
    EXPECT_EQ(e.exit_code, 0);
    EXPECT_LT(e.took, 3s)
        << "the guests powered off at once; nothing should wait for the 30 s timeout";

    for (const std::string name : {"first", "second"}) {
        std::string xl = read_log("xl-" + name + ".log");
        EXPECT_NE(xl.find("shut down with the daemon"), std::string::npos) << name << ":\n" << xl;
        EXPECT_EQ(xl.find("did not shut down in time"), std::string::npos) << name << ":\n" << xl;
        EXPECT_NE(read_log("guest-" + name + ".log").find("pumice: control/shutdown: poweroff"),
                  std::string::npos);
    }
    std::string log = read_log("xenolithd.log");
    EXPECT_NE(log.find("received Terminated; stopping"), std::string::npos) << log;
    EXPECT_NE(log.find("stopped: 2 domain(s) at stop, 0 destroyed after the 30000 ms timeout"),
              std::string::npos)
        << log;
    EXPECT_FALSE(path_exists(control_socket()));
    EXPECT_FALSE(path_exists(pid_file()));
    EXPECT_FALSE(path_exists(xenstored_socket()));
}

TEST_F(DaemonProcess, SigtermDestroysGuestsThatDoNotShutDownInTime) {
    ASSERT_TRUE(start_daemon({"--shutdown-timeout", "1"}));
    // Pumice's threads are cooperative: while spin's main loop computes, its xenstore
    // thread never runs, so control/shutdown goes unanswered. A paused guest cannot
    // answer at all. The third powers off as asked.
    ASSERT_TRUE(create("spin", "busy", "seconds=30 report_ms=100"));
    ASSERT_TRUE(create("hello", "frozen", "sleep_ms=100000"));
    ASSERT_TRUE(create("hello", "polite", "sleep_ms=100000"));
    ASSERT_TRUE(wait_for_log("guest-busy.log", "spin: iter=", 10s)) << "spin's main loop runs";
    ASSERT_TRUE(wait_for_log("guest-frozen.log", "hello: vcpus=1", 10s));
    ASSERT_TRUE(wait_for_log("guest-polite.log", "hello: vcpus=1", 10s));
    ASSERT_EQ(xn({"pause", "frozen"}).exit_code, 0);

    DaemonExit e = stop_daemon(SIGTERM, 20s);
    EXPECT_FALSE(e.timed_out);
    EXPECT_EQ(e.exit_code, 0);
    EXPECT_GE(e.took, 900ms) << "the stragglers were given their second";
    EXPECT_LT(e.took, 5s) << "about a second, not the default 30";

    for (const std::string name : {"busy", "frozen"}) {
        std::string xl = read_log("xl-" + name + ".log");
        EXPECT_NE(xl.find("destroyed: it did not shut down in time"), std::string::npos)
            << name << ":\n"
            << xl;
    }
    std::string polite = read_log("xl-polite.log");
    EXPECT_NE(polite.find("shut down with the daemon"), std::string::npos) << polite;
    EXPECT_EQ(polite.find("did not shut down in time"), std::string::npos) << polite;
    EXPECT_EQ(read_log("guest-busy.log").find("spin: done"), std::string::npos);
    std::string log = read_log("xenolithd.log");
    EXPECT_NE(log.find("stopped: 3 domain(s) at stop, 2 destroyed after the 1000 ms timeout"),
              std::string::npos)
        << log;
    EXPECT_FALSE(path_exists(control_socket()));
    EXPECT_FALSE(path_exists(pid_file()));
}

// ---- metrics ---------------------------------------------------------------------------

// One HTTP/1.0 exchange over a unix socket: the whole response, or "" on failure.
std::string http_over_unix(const std::string& socket_path, const std::string& request) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (!fd || socket_path.size() >= sizeof addr.sun_path) return {};
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ADD_FAILURE() << "connect " << socket_path << ": " << std::strerror(errno);
        return {};
    }
    if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size()))
        return {};
    std::string response;
    auto deadline = Clock::now() + 5s;
    for (;;) {
        pollfd p{fd.get(), POLLIN, 0};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
            ADD_FAILURE() << "no complete response within 5 s; so far:\n" << response;
            return response;
        }
        char buf[16384];
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n <= 0) return response;  // HTTP/1.0: the server closes after the body
        response.append(buf, static_cast<size_t>(n));
    }
}

class DaemonMetrics : public DaemonTest {
  protected:
    void SetUp() override {
        DaemonTest::SetUp();
        if (HasFatalFailure()) return;
        metrics_socket_ = run_dir_ + "/metrics.sock";
        ASSERT_TRUE(start_daemon({"--metrics", "unix:" + metrics_socket_}));
    }
    std::string metrics_socket_;
};

TEST_F(DaemonMetrics, GetMetricsReturnsPrometheusTextWithTheRunningGuest) {
    auto id = create("spin", "web", "seconds=30 report_ms=1000");
    ASSERT_TRUE(id);
    std::string response = http_over_unix(metrics_socket_, "GET /metrics HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(starts_with(response, "HTTP/1.0 200 OK\r\n")) << response.substr(0, 200);
    size_t head_end = response.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos);
    std::string head = response.substr(0, head_end);
    std::string body = response.substr(head_end + 4);
    EXPECT_NE(head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << head;
    EXPECT_NE(head.find("Content-Length: " + std::to_string(body.size())), std::string::npos)
        << head;

    EXPECT_NE(body.find("# TYPE xenolith_domain_cpu_seconds_total counter\n"), std::string::npos)
        << body;
    EXPECT_NE(body.find("# HELP xenolith_domain_cpu_seconds_total "), std::string::npos) << body;
    std::smatch m;
    std::regex cpu("xenolith_domain_cpu_seconds_total\\{domid=\"" + std::to_string(*id) +
                   "\",name=\"web\"\\} ([0-9.e+-]+)\n");
    ASSERT_TRUE(std::regex_search(body, m, cpu)) << body;
    EXPECT_GE(std::stod(m[1]), 0.0);
    // Every sample belongs to a family announced with # TYPE.
    for (const auto& line : split_lines(body)) {
        if (line.empty() || line[0] == '#') continue;
        std::string family = line.substr(0, line.find_first_of("{ "));
        EXPECT_NE(body.find("# TYPE " + family + " "), std::string::npos) << line;
    }
    // A busy guest's counter grows between scrapes.
    double first = std::stod(m[1]);
    EXPECT_TRUE(eventually(
        [&] {
            std::string again = http_over_unix(metrics_socket_, "GET /metrics HTTP/1.0\r\n\r\n");
            std::smatch n;
            return std::regex_search(again, n, cpu) && std::stod(n[1]) > first;
        },
        3s, 100ms));
}

TEST_F(DaemonMetrics, OtherPathsAre404) {
    std::string response = http_over_unix(metrics_socket_, "GET /other HTTP/1.0\r\n\r\n");
    EXPECT_TRUE(starts_with(response, "HTTP/1.0 404 Not Found\r\n")) << response;
    EXPECT_EQ(response.find("xenolith_"), std::string::npos) << response;
    // The server is still there for the next scrape.
    EXPECT_TRUE(starts_with(http_over_unix(metrics_socket_, "GET /metrics HTTP/1.0\r\n\r\n"),
                            "HTTP/1.0 200 OK\r\n"));
}

}  // namespace
}  // namespace xenolith::integration
