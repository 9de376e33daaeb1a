#include "toolstack/daemon/console_hub.hpp"

#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/error.hpp"

namespace xenolith::daemon {
namespace {

bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

TEST(ConsoleHub, ReplaysHistoryThenStreamsNewOutput) {
    ConsoleHub hub("");
    hub.output("boot line\n");
    uint64_t from = hub.history_start();
    ConsoleHub::Chunk c = hub.read_from(from);
    EXPECT_EQ(c.bytes, "boot line\n");
    EXPECT_EQ(c.skipped, 0u);
    hub.output("more");
    c = hub.read_from(c.next);
    EXPECT_EQ(c.bytes, "more");
    EXPECT_FALSE(c.closed);
}

TEST(ConsoleHub, KeepsOnlyTheLastHistoryBytesAndSaysWhatWasSkipped) {
    ConsoleHub hub("");
    std::string big(ConsoleHub::kHistoryBytes + 100, 'x');
    big.back() = 'y';
    hub.output(big);
    ConsoleHub::Chunk c = hub.read_from(0);
    EXPECT_EQ(c.skipped, 100u);
    EXPECT_EQ(c.bytes.size(), ConsoleHub::kHistoryBytes);
    EXPECT_EQ(c.bytes.back(), 'y');
    EXPECT_EQ(hub.history_start(), 100u);
}

TEST(ConsoleHub, SubscribersAreWokenByOutputAndByClose) {
    ConsoleHub hub("");
    UniqueFd a = hub.subscribe();
    UniqueFd b = hub.subscribe();
    EXPECT_FALSE(readable(a.get()));  // nothing written yet
    hub.output("x");
    EXPECT_TRUE(readable(a.get()));
    EXPECT_TRUE(readable(b.get()));
    uint64_t n;
    ASSERT_EQ(::read(a.get(), &n, sizeof n), 8);
    hub.unsubscribe(b.get());
    ASSERT_EQ(::read(b.get(), &n, sizeof n), 8);
    hub.close();
    EXPECT_TRUE(readable(a.get()));
    EXPECT_FALSE(readable(b.get()));  // unsubscribed: no longer told
    EXPECT_TRUE(hub.read_from(0).closed);
}

TEST(ConsoleHub, AppendsToItsLogFile) {
    char path[] = "/tmp/xenolith-hub-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    {
        ConsoleHub hub(path);
        hub.output("one\n");
        hub.output("two\n");
    }
    FILE* f = std::fopen(path, "r");
    char buf[64] = {};
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    ::unlink(path);
    EXPECT_EQ(std::string(buf, n), "one\ntwo\n");
}

TEST(ConsoleHub, AnUnwritableLogIsAnError) {
    EXPECT_THROW(ConsoleHub("/nonexistent-dir/guest-x.log"), SystemError);
}

}  // namespace
}  // namespace xenolith::daemon
