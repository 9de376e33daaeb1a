// The network stack (pumice/net.hpp over lwIP) inside one guest, booted through `xn run`:
// nettest wires two interfaces back to back in memory, gives one an address over DHCP from
// the other, and echoes a stream over TCP across that wire and over lwIP's loopback
// interface, the guest checking every byte (guest/apps/nettest).
#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace xenolith::integration {
namespace {

class NetStack : public IntegrationTest {
  protected:
    ProcessResult run(const std::string& extra) {
        GuestConfig cfg = app_config("nettest", extra);
        return xn_run(dir_.write("nettest.cfg", cfg.text()), {"-q"}, 25s);
    }
    TempDir dir_;
};

// The line that starts with `prefix`, or "" when none does.
std::string line_starting(const std::vector<std::string>& lines, std::string_view prefix) {
    for (const std::string& line : lines) {
        if (starts_with(line, prefix)) return line;
    }
    return "";
}

TEST_F(NetStack, DhcpLeaseThenOneMebibyteEchoedOverTheWireAndLoopback) {
    ProcessResult r = run("bytes=1048576");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    std::vector<std::string> out = split_lines(r.out);
    EXPECT_EQ(line_starting(out, "nettest: dhcp "),
              "nettest: dhcp address=10.0.0.2 netmask=255.255.255.0 gateway=10.0.0.1 "
              "offers=1 acks=1")
        << describe(r);
    // 1 MiB each way in segments of at most 1460 bytes: at least 718 data frames each way,
    // so the echo crossed the in-memory wire both ways (not lwIP's loopback).
    std::string wire = line_starting(out, "nettest: wire echo bytes=1048576 ms=");
    ASSERT_NE(wire, "") << describe(r);
    for (const char* direction : {"frames_ab=", "frames_ba="}) {
        size_t at = wire.find(direction);
        ASSERT_NE(at, std::string::npos) << wire;
        auto frames = number_after({wire.substr(at)}, direction);
        ASSERT_TRUE(frames) << wire;
        EXPECT_GE(*frames, 1048576u / 1460) << direction << " in " << wire;
    }
    EXPECT_NE(line_starting(out, "nettest: loopback echo bytes=1048576 ms="), "") << describe(r);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back(), "nettest: ok bytes=2097152") << describe(r);
    EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << describe(r);
}

// A length that is no multiple of any buffer or segment size on the way.
TEST_F(NetStack, OddLengthEchoIsExact) {
    ProcessResult r = run("bytes=100003");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    std::vector<std::string> out = split_lines(r.out);
    ASSERT_FALSE(out.empty()) << describe(r);
    EXPECT_EQ(out.back(), "nettest: ok bytes=200006") << describe(r);
}

}  // namespace
}  // namespace xenolith::integration
