// xn migrate between two daemons on this host (each its own run and log directories, the
// receiver started with --migrate-listen on a loopback port): a counting guest moves and
// counts on there; a disk guest moves mid-journal and finishes it there; a target that is
// not there, one that dies mid-stream and one that refuses all leave the guest running
// here and nothing there.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <thread>

#include "base/tcp_socket.hpp"
#include "common/blk_pattern.hpp"
#include "tests/integration/daemon_harness.hpp"
#include "tests/integration/http_client.hpp"

namespace xenolith::integration {
namespace {

class DaemonMigrate : public DaemonTest {
  protected:
    void SetUp() override {
        DaemonTest::SetUp();
        if (HasFatalFailure()) return;
        ASSERT_TRUE(start_daemon());
        target_dir_ = dir_.path() + "/target";
        ASSERT_EQ(::mkdir(target_dir_.c_str(), 0755), 0);
        ASSERT_EQ(::mkdir((target_dir_ + "/log").c_str(), 0755), 0);
    }
    void TearDown() override {
        if (target_) {
            if (HasFailure())
                std::cerr << "---- the target's xenolithd.log ----\n"
                          << read_text_file(target_dir_ + "/log/xenolithd.log");
            target_.reset();  // SIGKILL: its guests go with it
        }
        DaemonTest::TearDown();
    }
    // The second daemon, receiving migrations on a free loopback port.
    void start_target() {
        port_ = free_port();
        ASSERT_NE(port_, 0);
        target_ = std::make_unique<Subprocess>(std::vector<std::string>{
            kXenolithdPath, "-q", "--run-dir", target_dir_, "--log-dir", target_dir_ + "/log",
            "--migrate-listen", "127.0.0.1:" + std::to_string(port_)});
        ASSERT_TRUE(eventually([&] { return on_target({"list"}).exit_code == 0; }, 10s, 50ms));
    }
    ProcessResult on_target(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {"/usr/bin/env", "XENOLITH_RUN_DIR=" + target_dir_,
                                         "XENOLITH_LOG_DIR=" + target_dir_ + "/log", kXnPath};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv, 15s);
    }
    std::string target_log(const std::string& file) {
        return read_text_file(target_dir_ + "/log/" + file);
    }
    std::string endpoint() const { return "tcp:127.0.0.1:" + std::to_string(port_); }
    // Names listed by a daemon's `xn list`, Domain-0 aside.
    std::vector<std::string> guests_in(const ProcessResult& list) {
        std::vector<std::string> out;
        std::istringstream in(list.out);
        std::string line;
        std::getline(in, line);  // the header
        while (std::getline(in, line)) {
            const std::string name = line.substr(0, line.find(' '));
            if (name != "Domain-0") out.push_back(name);
        }
        return out;
    }
    // The counting guest "mover" is gone from here and counts on there from where it was.
    void expect_moved_and_counting_there() {
        EXPECT_TRUE(guests_in(xn({"list"})).empty()) << "the source's copy is destroyed";
        EXPECT_EQ(guests_in(on_target({"list"})), std::vector<std::string>{"mover"});
        const std::vector<uint64_t> here =
            numbers_after(read_log("guest-mover.log"), "spin: iter=");
        ASSERT_FALSE(here.empty());
        ASSERT_TRUE(eventually(
            [&] { return numbers_after(target_log("guest-mover.log"), "spin: iter=").size() >= 3; },
            20s, 50ms))
            << target_log("guest-mover.log");
        const std::vector<uint64_t> there =
            numbers_after(target_log("guest-mover.log"), "spin: iter=");
        EXPECT_GT(there.front(), here.back()) << "the count went on where it stopped";
    }
    std::string target_dir_;
    uint16_t port_ = 0;
    std::unique_ptr<Subprocess> target_;
};

TEST_F(DaemonMigrate, ACountingGuestMovesAndCountsOnThere) {
    start_target();
    auto id = create("spin", "mover", "seconds=60 report_ms=50");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-mover.log", "spin: iter=", 20s, 3));
    ProcessResult m = xn({"migrate", "mover", endpoint()}, 60s);
    ASSERT_EQ(m.exit_code, 0) << describe(m);
    EXPECT_NE(m.err.find("Migration successful"), std::string::npos) << m.err;
    expect_moved_and_counting_there();
}

TEST_F(DaemonMigrate, ADiskGuestMovesMidJournalAndFinishesItThere) {
    start_target();
    const std::string disk = dir_.path() + "/shared.img";
    {
        std::ofstream f(disk, std::ios::binary);
        f.seekp(8 * 1024 * 1024 - 1);
        f.put('\0');
    }
    constexpr uint64_t kRecords = 3000;
    auto id = create("blktest", "journal", "mode=journal records=" + std::to_string(kRecords),
                     "disk = ['" + disk + ",raw,xvda,w']\n");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-journal.log", "blktest: durable seq=", 20s, 100));
    ProcessResult m = xn({"migrate", "journal", endpoint()}, 60s);
    ASSERT_EQ(m.exit_code, 0) << describe(m);
    ASSERT_TRUE(eventually(
        [&] { return target_log("guest-journal.log").find("blktest: ok") != std::string::npos; },
        60s, 100ms))
        << target_log("guest-journal.log").substr(0, 3000);
    std::vector<uint64_t> seqs = numbers_after(read_log("guest-journal.log"), "durable seq=");
    const std::vector<uint64_t> there =
        numbers_after(target_log("guest-journal.log"), "durable seq=");
    seqs.insert(seqs.end(), there.begin(), there.end());
    ASSERT_EQ(seqs.size(), kRecords) << "every record reported once, here or there";
    for (uint64_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1);
    std::ifstream in(disk, std::ios::binary);
    std::vector<uint8_t> sector(xenolith_common::kBlkSector), want(sector.size());
    for (uint64_t seq = 1; seq <= kRecords; ++seq) {
        in.read(reinterpret_cast<char*>(sector.data()), static_cast<long>(sector.size()));
        xenolith_common::journal_record(want.data(), seq, 1);
        ASSERT_EQ(sector, want) << "journal record " << seq;
    }
}

// --- Live migration (pre-copy) ------------------------------------------------------

TEST_F(DaemonMigrate, LiveACountingGuestMovesAndCountsOnThere) {
    start_target();
    ASSERT_TRUE(create("spin", "mover", "seconds=60 report_ms=50"));
    ASSERT_TRUE(wait_for_log("guest-mover.log", "spin: iter=", 20s, 3));
    ProcessResult m = xn({"migrate", "--live", "mover", endpoint()}, 60s);
    ASSERT_EQ(m.exit_code, 0) << describe(m);
    EXPECT_NE(m.err.find("Migration successful"), std::string::npos) << m.err;
    EXPECT_NE(m.err.find("Live: "), std::string::npos) << m.err;
    expect_moved_and_counting_there();
}

// The `dirty` guest writes its memory all through the migration and checks every page
// against a table of what it wrote: a page sent before a write and not sent again after
// it would show as a MISMATCH there.
TEST_F(DaemonMigrate, LiveAGuestWritingItsMemoryLosesNoWrite) {
    start_target();
    ASSERT_TRUE(create("dirty", "writer", "mib=24 rate=20000 report_ms=100 verify_ms=100", "",
                       {"memory=64"}));
    ASSERT_TRUE(wait_for_log("guest-writer.log", "dirty: seq=", 20s, 3));
    ProcessResult m = xn({"migrate", "--live", "writer", endpoint()}, 60s);
    ASSERT_EQ(m.exit_code, 0) << describe(m);
    std::smatch rounds;
    ASSERT_TRUE(std::regex_search(m.err, rounds, std::regex("Live: (\\d+) rounds"))) << m.err;
    EXPECT_GE(std::stoul(rounds[1]), 2u) << "the whole of RAM, then what was written meanwhile";
    const uint64_t verified_here = numbers_after(read_log("guest-writer.log"), "verified=").back();
    ASSERT_TRUE(eventually(
        [&] {
            const auto v = numbers_after(target_log("guest-writer.log"), "verified=");
            return !v.empty() && v.back() >= verified_here + 3;
        },
        30s, 50ms))
        << target_log("guest-writer.log");
    EXPECT_EQ(read_log("guest-writer.log").find("MISMATCH"), std::string::npos);
    EXPECT_EQ(target_log("guest-writer.log").find("MISMATCH"), std::string::npos)
        << target_log("guest-writer.log");
}

// Each failure before the target may start the guest leaves it running here.
class MigrateFailure : public DaemonMigrate {
  protected:
    // The guest counts on here after `migrate` failed with `message`.
    void expect_failed_and_running(const ProcessResult& m, const std::string& message) {
        EXPECT_EQ(m.exit_code, 1) << describe(m);
        EXPECT_NE(m.err.find(message), std::string::npos) << describe(m);
        EXPECT_EQ(guests_in(xn({"list"})), std::vector<std::string>{"stay"});
        const size_t n = numbers_after(read_log("guest-stay.log"), "spin: iter=").size();
        EXPECT_TRUE(wait_for_log("guest-stay.log", "spin: iter=", 10s, n + 3))
            << "the guest does not run here any more";
    }
    // A receiver that takes the first 16 KiB of a stream, then closes the connection.
    static std::thread receive_and_die(int listener) {
        return std::thread([listener] {
            UniqueFd c(::accept(listener, nullptr, nullptr));
            char buf[4096];
            for (size_t got = 0; got < 16384;) {
                const ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
                if (n <= 0) break;
                got += static_cast<size_t>(n);
            }
        });
    }
    void start_guest() {
        ASSERT_TRUE(create("spin", "stay", "seconds=60 report_ms=50"));
        ASSERT_TRUE(wait_for_log("guest-stay.log", "spin: iter=", 20s, 2));
    }
};

TEST_F(MigrateFailure, NoTargetThere) {
    start_guest();
    const uint16_t port = free_port();
    ProcessResult m = xn({"migrate", "stay", "tcp:127.0.0.1:" + std::to_string(port)});
    expect_failed_and_running(m, "Connection refused");
    ProcessResult bad = xn({"migrate", "stay", "127.0.0.1"});
    expect_failed_and_running(bad, "expected [tcp:]HOST:PORT");
}

// A receiver that takes part of the stream and dies.
TEST_F(MigrateFailure, TheReceiverDiesMidStream) {
    start_guest();
    uint16_t port = 0;
    UniqueFd listener = listen_tcp({"127.0.0.1", 0}, 1, port);
    std::thread receiver = receive_and_die(listener.get());
    ProcessResult m = xn({"migrate", "stay", "tcp:127.0.0.1:" + std::to_string(port)}, 60s);
    receiver.join();
    expect_failed_and_running(m, "migrate:");
}

// The same mid-pre-copy: the guest was never paused, and runs on.
TEST_F(MigrateFailure, TheReceiverDiesMidPrecopy) {
    start_guest();
    uint16_t port = 0;
    UniqueFd listener = listen_tcp({"127.0.0.1", 0}, 1, port);
    std::thread receiver = receive_and_die(listener.get());
    ProcessResult m =
        xn({"migrate", "--live", "stay", "tcp:127.0.0.1:" + std::to_string(port)}, 60s);
    receiver.join();
    expect_failed_and_running(m, "migrate:");
}

// The real target refuses the domain (its name is taken there): nothing is left there.
TEST_F(MigrateFailure, TheTargetRefusesAndKeepsNothing) {
    start_target();
    start_guest();
    const std::string cfg =
        write_config("other.cfg", config_text("hello", "stay", "sleep_ms=60000"));
    ASSERT_EQ(on_target({"create", cfg}).exit_code, 0);
    ProcessResult m = xn({"migrate", "stay", endpoint()}, 60s);
    expect_failed_and_running(m, "already exists");
    EXPECT_EQ(guests_in(on_target({"list"})).size(), 1u) << "only the target's own domain";
}

}  // namespace
}  // namespace xenolith::integration
