// Debian's gdb against the server and a fake target: proves that gdb accepts our target
// description and register layout, and that its run control (breakpoints, continue, stepi,
// detach) works over our packets the way its users will drive it.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <future>
#include <string>

#include <gtest/gtest.h>

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

// Runs gdb in batch mode with `commands` against the listener's endpoint.
GdbRun run_gdb(const std::string& target, const std::vector<std::string>& commands) {
    std::string cmd =
        "timeout 60 /usr/bin/gdb -batch -nx -ex 'set architecture i386:x86-64' "
        "-ex 'target remote " +
        target + "'";
    for (const auto& c : commands) cmd += " -ex '" + c + "'";
    cmd += " 2>&1";
    GdbRun run;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (!pipe) return run;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) run.output.append(buf.data(), n);
    run.status = ::pclose(pipe);
    return run;
}

class GdbEndToEnd : public ::testing::Test {
  protected:
    // Serves one gdb session on a fresh TCP port while `commands` run in gdb.
    GdbRun session(const std::vector<std::string>& commands) {
        GdbListener listener("tcp:127.0.0.1:0");
        std::string endpoint = listener.endpoint();
        auto served = std::async(std::launch::async, [&] {
            UniqueFd fd = listener.accept();
            FdChannel channel(fd.get());
            return GdbServer(target, channel).serve();
        });
        GdbRun run = run_gdb(endpoint.substr(4), commands);  // gdb wants HOST:PORT
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

}  // namespace
}  // namespace xenolith::vmi::gdb
