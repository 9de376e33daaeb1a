// Debian's gdb against the server and a fake target: proves that gdb accepts our target
// description and register layout, and that its run control (breakpoints, continue, stepi,
// detach) works over our packets the way its users will drive it.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <string>

#include <gtest/gtest.h>

#include "base/unix_socket.hpp"
#include "tests/unit/vmi/fake_target.hpp"
#include "vmi/gdb/channel.hpp"
#include "vmi/gdb/gdb_listener.hpp"

namespace xenolith::vmi::gdb {
namespace {

using testing::FakeTarget;

struct GdbRun {
    std::string output;
    int status = -1;
};

// Runs gdb in batch mode: `commands` after connecting to `remote`. With `interrupt` set, gdb
// gets SIGINT (as from a terminal's Ctrl-C) once `interrupt` returns true.
GdbRun run_gdb(const std::string& remote, const std::vector<std::string>& commands,
               const std::function<bool()>& interrupt = {}) {
    std::vector<std::string> args{
        "/usr/bin/gdb",           "-batch", "-nx", "-ex", "set architecture i386:x86-64", "-ex",
        "target remote " + remote};
    for (const auto& c : commands) {
        args.push_back("-ex");
        args.push_back(c);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out[2];
    GdbRun run;
    if (::pipe2(out, O_CLOEXEC) != 0) return run;
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::dup2(out[1], 2);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    UniqueFd reader(out[0]);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool interrupted = false;
    for (;;) {
        if (interrupt && !interrupted && interrupt()) {
            ::kill(pid, SIGINT);
            interrupted = true;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            run.output += "\n<gdb timed out>";
            break;
        }
        pollfd pfd{reader.get(), POLLIN, 0};
        if (::poll(&pfd, 1, 20) <= 0) continue;
        char buf[4096];
        ssize_t n = ::read(reader.get(), buf, sizeof(buf));
        if (n <= 0) break;
        run.output.append(buf, static_cast<size_t>(n));
    }
    ::waitpid(pid, &run.status, 0);
    return run;
}

void knock(const std::string& endpoint) {
    if (endpoint.rfind("unix:", 0) == 0) {
        int err = 0;
        connect_unix(endpoint.substr(5), err);
        return;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port =
        htons(static_cast<uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1))));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
}

class GdbEndToEnd : public ::testing::Test {
  protected:
    // Serves one gdb session on a fresh TCP port while `commands` run in gdb.
    GdbRun session(const std::vector<std::string>& commands,
                   const std::function<bool()>& interrupt = {},
                   const std::string& endpoint_spec = "tcp:127.0.0.1:0") {
        GdbListener listener(endpoint_spec);
        std::string endpoint = listener.endpoint();
        auto served = std::async(std::launch::async, [&] {
            UniqueFd fd = listener.accept();
            FdChannel channel(fd.get());
            return GdbServer(target, channel).serve();
        });
        // gdb wants HOST:PORT, or the socket's path.
        std::string remote = endpoint.substr(endpoint.find(':') + 1);
        GdbRun run = run_gdb(remote, commands, interrupt);
        // A gdb that failed before connecting leaves the server in accept: connect and hang
        // up ourselves so that the test fails instead of hanging.
        if (served.wait_for(std::chrono::seconds(10)) != std::future_status::ready) knock(endpoint);
        end = served.get();
        return run;
    }
    FakeTarget target;
    GdbServer::End end = GdbServer::End::Disconnected;
};

TEST_F(GdbEndToEnd, ReadsRegistersAndMemoryThroughOurTargetDescription) {
    GdbRun run = session({"info registers rip", "p/x $rax", "p/x $fs_base", "p/x $cs",
                          "x/4xb 0x401000", "info threads", "detach"});
    ASSERT_EQ(run.status, 0) << run.output;
    EXPECT_NE(run.output.find("rip            0x401010"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("= 0x1111000000000001"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("= 0xfff0001"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("= 0x10"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("0x401000:\t0x03\t0x0a\t0x11\t0x18"), std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find("Thread 2"), std::string::npos) << run.output;
    EXPECT_EQ(end, GdbServer::End::Detached);
    EXPECT_TRUE(target.logged("detach"));
}

TEST_F(GdbEndToEnd, BreaksContinuesStepsAndWritesLikeAUserWould) {
    GdbRun run = session({"break *0x401040", "continue", "info registers rip", "stepi", "p/x $pc",
                          "set var $rbx = 0x1234", "set {unsigned char}0x401100 = 0x5a", "thread 2",
                          "p/x $pc", "detach"});
    ASSERT_EQ(run.status, 0) << run.output;
    EXPECT_NE(run.output.find("Breakpoint 1, 0x0000000000401040"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("rip            0x401040"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("= 0x401041"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("= 0x401020"), std::string::npos) << run.output;  // thread 2's pc
    EXPECT_EQ(target.regs[1].rbx, 0x1234u);
    EXPECT_EQ(target.memory[0x100], 0x5a);
    EXPECT_TRUE(target.logged("insert_sw 401040"));
    EXPECT_TRUE(target.sw_breakpoints.empty());  // gdb took it out; detach would have too
    EXPECT_EQ(end, GdbServer::End::Detached);
}

TEST_F(GdbEndToEnd, CtrlCInterruptsARunningTarget) {
    // No breakpoint ahead: the fake runs until gdb, given SIGINT, sends Ctrl-C.
    GdbRun run =
        session({"continue", "p/x $pc", "detach"}, [&] { return target.interrupt_polls > 10; });
    ASSERT_EQ(run.status, 0) << run.output;
    EXPECT_NE(run.output.find("received signal SIGINT"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("= 0x401010"), std::string::npos) << run.output;
    EXPECT_TRUE(target.logged("interrupted"));
    EXPECT_EQ(end, GdbServer::End::Detached);
}

TEST_F(GdbEndToEnd, ConnectsOverAUnixSocket) {
    std::string path = "/tmp/xenolith-gdb-" + std::to_string(::getpid()) + ".sock";
    GdbRun run = session({"p/x $rip", "kill"}, {}, "unix:" + path);
    ASSERT_EQ(run.status, 0) << run.output;
    EXPECT_NE(run.output.find("= 0x401010"), std::string::npos) << run.output;
    EXPECT_EQ(end, GdbServer::End::Killed);
    EXPECT_TRUE(target.logged("kill"));
    EXPECT_FALSE(std::filesystem::exists(path));  // the listener removed it
}

}  // namespace
}  // namespace xenolith::vmi::gdb
