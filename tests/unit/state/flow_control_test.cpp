// Live migration's flow control: the receiver's progress reports on the stream's own
// connection, and the sender's wait for them.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>
#include <vector>

#include "base/unique_fd.hpp"
#include "state/flow_control.hpp"

namespace xenolith::state {
namespace {

struct Pair {
    UniqueFd sender, receiver;
    Pair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        sender.reset(fds[0]);
        receiver.reset(fds[1]);
    }
};

TEST(FlowControl, TheSenderWaitsUntilTheReceiverHasReadAllButTwoReports) {
    Pair p;
    constexpr uint64_t kSent = 2 * 1024 * 1024;
    std::thread sender([&] {
        std::vector<uint8_t> chunk(64 * 1024, 0xab);
        for (uint64_t done = 0; done < kSent; done += chunk.size())
            ASSERT_EQ(::send(p.sender.get(), chunk.data(), chunk.size(), 0),
                      static_cast<ssize_t>(chunk.size()));
    });
    ReceiverProgress progress(p.sender.get());
    std::thread receiver([&] {
        ReportingSource source(p.receiver.get());
        std::vector<uint8_t> chunk(4096);
        for (uint64_t done = 0; done < kSent; done += chunk.size())
            source.read_exact(chunk, "a chunk");
        // One more read makes the last report (as the reader asks for the next record).
        uint8_t byte = 0;
        EXPECT_THROW(source.read_exact({&byte, 1}, "the end"), StreamError);
    });
    sender.join();
    ::shutdown(p.sender.get(), SHUT_WR);
    progress.wait_for(kSent);
    receiver.join();
    EXPECT_GE(progress.applied() + 2 * kAppliedEvery, kSent);
    EXPECT_LE(progress.applied(), kSent);
}

TEST(FlowControl, ASilentReceiverIsNotWaitedForPastTheQuietTime) {
    Pair p;
    ReceiverProgress progress(p.sender.get());
    const auto t0 = std::chrono::steady_clock::now();
    progress.wait_for(10 * 1024 * 1024, std::chrono::milliseconds(50));
    EXPECT_EQ(progress.applied(), 0u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(FlowControl, OnlyReportsAreSkippedByTheHandshakeReader) {
    EXPECT_TRUE(is_applied_report("APPLIED 123"));
    EXPECT_FALSE(is_applied_report("READY 3"));
    EXPECT_FALSE(is_applied_report("APPLIED"));
    Pair p;
    const std::string lines = "APPLIED 5\nREADY 7\n";
    ASSERT_EQ(::send(p.receiver.get(), lines.data(), lines.size(), 0),
              static_cast<ssize_t>(lines.size()));
    const auto soon = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    EXPECT_EQ(read_line_until(p.sender.get(), soon), "APPLIED 5");
    EXPECT_EQ(read_line_until(p.sender.get(), soon), "READY 7");  // the rest stays unread
    EXPECT_EQ(read_line_until(p.sender.get(), std::chrono::steady_clock::now()), "");
}

}  // namespace
}  // namespace xenolith::state
