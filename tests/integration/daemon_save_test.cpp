// xn save / xn restore as an operator uses them (docs/domain-stream.md): a counting guest
// saved to a file and restored counts on from where it was, its store connection intact;
// save -c leaves it running; bad files are refused with one message and create nothing.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "tests/integration/daemon_harness.hpp"

namespace xenolith::integration {
namespace {

// Every "spin: iter=N" count in the text, in order.
std::vector<uint64_t> counts_in(const std::string& text) {
    std::vector<uint64_t> out;
    static const std::regex kIter("spin: iter=([0-9]+)");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kIter);
         it != std::sregex_iterator(); ++it)
        out.push_back(std::stoull((*it)[1].str()));
    return out;
}

class DaemonSave : public DaemonTest {
  protected:
    void SetUp() override {
        DaemonTest::SetUp();
        if (HasFatalFailure()) return;
        ASSERT_TRUE(start_daemon());
    }
    std::string file(const std::string& name) const { return dir_.path() + "/" + name; }
    // A spin guest counting for a minute, reporting every 50 ms; waits for `reports` lines.
    std::optional<uint32_t> start_spin(const std::string& name, size_t reports = 3) {
        auto id = create("spin", name, "seconds=60 report_ms=50");
        if (id && !wait_for_log("guest-" + name + ".log", "spin: iter=", 20s, reports)) {
            ADD_FAILURE() << "the guest did not count:\n" << read_log("guest-" + name + ".log");
            return std::nullopt;
        }
        return id;
    }
    size_t guests() {
        size_t n = 0;
        for (const auto& r : list_rows()) n += r.domid != 0;
        return n;
    }
};

TEST_F(DaemonSave, ARestoredGuestCountsOnFromWhereItWas) {
    auto id = start_spin("counter");
    ASSERT_TRUE(id);
    ProcessResult s = xn({"save", "counter", file("counter.save")});
    ASSERT_EQ(s.exit_code, 0) << describe(s);
    EXPECT_NE(s.err.find("Saving to " + file("counter.save")), std::string::npos) << s.err;
    EXPECT_NE(s.err.find("Saved domain " + std::to_string(*id)), std::string::npos) << s.err;
    EXPECT_EQ(guests(), 0u) << "xn save without -c destroys the domain";
    const std::vector<uint64_t> before = counts_in(read_log("guest-counter.log"));
    ASSERT_FALSE(before.empty());

    ProcessResult r = xn({"restore", file("counter.save")});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.err.find("Restored domain"), std::string::npos) << r.err;
    auto rows = list_rows();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[1].name, "counter");
    EXPECT_EQ(rows[1].domid, *id) << "a restored domain keeps its domid when it is free";

    ASSERT_TRUE(wait_for_log("guest-counter.log", "spin: iter=", 20s, before.size() + 3))
        << read_log("guest-counter.log");
    const std::string log = read_log("guest-counter.log");
    const std::vector<uint64_t> all = counts_in(log);
    for (size_t i = 1; i < all.size(); ++i)
        EXPECT_GT(all[i], all[i - 1]) << "the count went back at report " << i << ":\n" << log;
}

// hello sleeps, so Pumice's store thread runs (spin never yields to it): its watch on
// control/shutdown came along, moved to the new domid's home, and xn shutdown reaches it.
TEST_F(DaemonSave, ARestoredGuestStillHearsTheStore) {
    auto id = create("hello", "sleeper", "sleep_ms=100000 exit=0");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-sleeper.log", "hello: vcpus=1", 10s));
    ASSERT_EQ(xn({"save", "sleeper", file("sleeper.save")}).exit_code, 0);
    ProcessResult r = xn({"restore", file("sleeper.save")});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ProcessResult w = xn({"shutdown", "-w", "sleeper"}, 30s);
    EXPECT_EQ(w.exit_code, 0) << describe(w);
    EXPECT_NE(w.err.find("reason code 0"), std::string::npos) << describe(w);
    const std::string log = read_log("guest-sleeper.log");
    EXPECT_EQ(count_of(log, "Hello from Pumice"), 1u) << "the copy did not boot again:\n" << log;
    EXPECT_NE(log.find("control/shutdown: poweroff"), std::string::npos) << log;
}

TEST_F(DaemonSave, SaveDashCLeavesTheGuestRunningAndItsNameTaken) {
    auto id = start_spin("kept");
    ASSERT_TRUE(id);
    ProcessResult s = xn({"save", "-c", "kept", file("kept.save")});
    ASSERT_EQ(s.exit_code, 0) << describe(s);
    const size_t reports = counts_in(read_log("guest-kept.log")).size();
    EXPECT_TRUE(wait_for_log("guest-kept.log", "spin: iter=", 10s, reports + 3))
        << "the guest stopped counting after save -c";

    // The same name cannot be had twice: refused, nothing created.
    ProcessResult clash = xn({"restore", file("kept.save")});
    EXPECT_EQ(clash.exit_code, 1) << describe(clash);
    EXPECT_NE(clash.err.find("already exists"), std::string::npos) << clash.err;
    EXPECT_EQ(guests(), 1u);

    ASSERT_EQ(xn({"destroy", "kept"}).exit_code, 0);
    ProcessResult r = xn({"restore", "-p", file("kept.save")});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto rows = list_rows();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_NE(rows[1].state.find('p'), std::string::npos) << rows[1].line;
    ASSERT_EQ(xn({"unpause", "kept"}).exit_code, 0);
    EXPECT_TRUE(wait_for_log("guest-kept.log", "spin: iter=", 10s, reports + 6));
}

// With its domid taken the copy gets a new one, and its store nodes and watches move there.
TEST_F(DaemonSave, ACopyWhoseDomidIsTakenMovesToANewOneAndStillHearsTheStore) {
    auto id = create("hello", "twin", "sleep_ms=100000 exit=0");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-twin.log", "hello: vcpus=1", 10s));
    ASSERT_EQ(xn({"save", "-c", "twin", file("twin.save")}).exit_code, 0);
    ASSERT_EQ(xn({"rename", "twin", "original"}).exit_code, 0);
    ProcessResult r = xn({"restore", file("twin.save")});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    std::optional<uint32_t> copy;
    for (const auto& row : list_rows())
        if (row.name == "twin") copy = row.domid;
    ASSERT_TRUE(copy);
    EXPECT_NE(*copy, *id);
    ProcessResult w = xn({"shutdown", "-w", "twin"}, 30s);
    EXPECT_EQ(w.exit_code, 0) << describe(w);
    EXPECT_NE(w.err.find("reason code 0"), std::string::npos) << describe(w);
    // The original is untouched by its copy's shutdown.
    EXPECT_EQ(list_rows().size(), 2u);
}

TEST_F(DaemonSave, BadSaveFilesAreRefusedAndCreateNothing) {
    auto id = start_spin("source", 1);
    ASSERT_TRUE(id);
    ASSERT_EQ(xn({"save", "source", file("good.save")}).exit_code, 0);
    std::ifstream in(file("good.save"), std::ios::binary);
    const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(good.size(), 4096u);

    std::string future = good;
    future[16] = 2;  // the stream version
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"truncated.save", good.substr(0, good.size() / 2)},
        {"future.save", future},
        {"text.save", "name = \"not a stream\"\n"},
        {"empty.save", ""},
    };
    for (const auto& [name, bytes] : bad) {
        dir_.write(name, bytes);
        ProcessResult r = xn({"restore", file(name)});
        EXPECT_EQ(r.exit_code, 1) << name << ": " << describe(r);
        EXPECT_NE(r.err.find(file(name)), std::string::npos) << name << ": " << r.err;
        EXPECT_EQ(count_of(r.err, "\n"), 2u) << name << ": one error line:\n" << r.err;
        EXPECT_EQ(guests(), 0u) << name;
    }
    ProcessResult missing = xn({"restore", file("missing.save")});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("No such file"), std::string::npos) << missing.err;
    EXPECT_EQ(guests(), 0u);
    // The good file still restores after all that.
    EXPECT_EQ(xn({"restore", file("good.save")}).exit_code, 0);
    EXPECT_EQ(guests(), 1u);
}

TEST_F(DaemonSave, ASaveThatCannotWriteLeavesTheGuestRunning) {
    auto id = start_spin("stays", 1);
    ASSERT_TRUE(id);
    ProcessResult s = xn({"save", "stays", file("no-such-dir/stays.save")});
    EXPECT_EQ(s.exit_code, 1) << describe(s);
    EXPECT_NE(s.err.find("No such file or directory"), std::string::npos) << s.err;
    const size_t reports = counts_in(read_log("guest-stays.log")).size();
    EXPECT_TRUE(wait_for_log("guest-stays.log", "spin: iter=", 10s, reports + 2));
    ProcessResult dom0 = xn({"save", "0", file("dom0.save")});
    EXPECT_EQ(dom0.exit_code, 1);
    EXPECT_FALSE(path_exists(file("dom0.save")));
}

}  // namespace
}  // namespace xenolith::integration
