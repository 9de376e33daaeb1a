// xn save / xn restore as an operator uses them (docs/domain-stream.md): a counting guest
// saved to a file and restored counts on from where it was, its store connection intact;
// save -c leaves it running; bad files are refused with one message and create nothing.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <thread>

#include "common/blk_pattern.hpp"
#include "tests/integration/daemon_harness.hpp"
#include "tests/integration/http_client.hpp"

namespace xenolith::integration {
namespace {

std::vector<uint64_t> counts_in(const std::string& text) {
    return numbers_after(text, "spin: iter=");
}

std::vector<uint64_t> durable_in(const std::string& text) {
    return numbers_after(text, "blktest: durable seq=");
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
    // A sparse raw image of `mib` MiB.
    std::string image(const std::string& name, unsigned mib) {
        const std::string path = file(name);
        std::ofstream f(path, std::ios::binary);
        f.seekp(static_cast<std::streamoff>(mib) * 1024 * 1024 - 1);
        f.put('\0');
        return path;
    }
    // Records 1..n of blktest's journal (seed 1) are on the image, each at sector seq-1.
    void expect_journal_on(const std::string& path, uint64_t n) {
        std::ifstream in(path, std::ios::binary);
        std::vector<uint8_t> sector(xenolith_common::kBlkSector), want(sector.size());
        for (uint64_t seq = 1; seq <= n; ++seq) {
            in.read(reinterpret_cast<char*>(sector.data()), static_cast<long>(sector.size()));
            xenolith_common::journal_record(want.data(), seq, 1);
            if (sector != want) {
                ADD_FAILURE() << "journal record " << seq << " is not on the disk";
                return;
            }
        }
    }
    // blktest journalling `records` records onto a fresh 8 MiB disk; waits for `durable` of them.
    std::optional<uint32_t> start_journal(const std::string& name, uint64_t records,
                                          size_t durable) {
        const std::string disk = image(name + ".img", 8);
        auto id = create("blktest", name, "mode=journal records=" + std::to_string(records),
                         "disk = ['" + disk + ",raw,xvda,w']\n");
        if (id && !wait_for_log("guest-" + name + ".log", "blktest: durable seq=", 20s, durable)) {
            ADD_FAILURE() << "no journal:\n" << read_log("guest-" + name + ".log");
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
    const std::vector<uint64_t> ms_before = numbers_after(read_log("guest-counter.log"), " ms=");
    std::this_thread::sleep_for(1500ms);  // time saved does not pass for the guest's clock

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
    // Its clock went on from the save (GUEST_TIME): the next report is due within its 50 ms
    // period, not 1.5 s later.
    const std::vector<uint64_t> ms_all = numbers_after(log, " ms=");
    ASSERT_GT(ms_all.size(), ms_before.size());
    EXPECT_LT(ms_all[ms_before.size()] - ms_before.back(), 1000u) << log;
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
    // The original is untouched by its copy's shutdown (the copy goes once destroyed).
    EXPECT_TRUE(eventually([&] { return list_rows().size() == 2u; }, 10s, 50ms));
    auto rows = list_rows();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[1].name, "original");
}

// A guest writing and flushing a journal is saved mid-way: what the backend took is
// answered and on the disk first; the restored guest's disk picks up at its ring's indices
// and the journal goes on to its end, every record once, every record on the disk.
TEST_F(DaemonSave, ADiskGuestSavedMidJournalFinishesItAfterRestore) {
    constexpr uint64_t kRecords = 3000;
    auto id = start_journal("journal", kRecords, 100);
    ASSERT_TRUE(id);
    ProcessResult s = xn({"save", "journal", file("journal.save")});
    ASSERT_EQ(s.exit_code, 0) << describe(s);
    const size_t before = durable_in(read_log("guest-journal.log")).size();
    EXPECT_LT(before, kRecords) << "the journal ended before the save: use more records";
    ProcessResult r = xn({"restore", file("journal.save")});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_TRUE(wait_for_log("guest-journal.log", "blktest: journal done", 60s))
        << read_log("guest-journal.log").substr(0, 4000);
    const std::string log = read_log("guest-journal.log");
    EXPECT_NE(log.find("blktest: ok"), std::string::npos) << log.substr(log.size() - 2000);
    const std::vector<uint64_t> seqs = durable_in(log);
    ASSERT_EQ(seqs.size(), kRecords);
    for (uint64_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1);
    expect_journal_on(file("journal.img"), kRecords);
}

// save -c quiesces the disk for the save and then serves the same ring again.
TEST_F(DaemonSave, SaveDashCLetsADiskGuestGoOn) {
    constexpr uint64_t kRecords = 2000;
    auto id = start_journal("busy", kRecords, 50);
    ASSERT_TRUE(id);
    ProcessResult s = xn({"save", "-c", "busy", file("busy.save")});
    ASSERT_EQ(s.exit_code, 0) << describe(s);
    ASSERT_TRUE(wait_for_log("guest-busy.log", "blktest: journal done", 60s))
        << read_log("guest-busy.log").substr(0, 4000);
    EXPECT_NE(read_log("guest-busy.log").find("blktest: ok"), std::string::npos);
    expect_journal_on(file("busy.img"), kRecords);
}

// The httpd guest serves through a forwarded port, is saved and restored, and serves again
// from the same lwIP and server state (its request count goes on); its vif reconnects at
// the rings' indices and the forward is set up again.
TEST_F(DaemonSave, AnHttpdGuestServesAgainAfterRestore) {
    const uint16_t port = free_port();
    ASSERT_NE(port, 0);
    auto id =
        create("httpd", "web", "ip=dhcp", "vif = ['forward=" + std::to_string(port) + ":80']\n");
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_for_log("guest-web.log", "httpd: listening on 10.0.2.15:80", 20s))
        << read_log("guest-web.log");
    auto get = [port](const std::string& path) -> std::string {
        UniqueFd s = connect_to(port);
        if (!s) return "no connection";
        std::string buffer;
        auto r = exchange(s.get(), "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n", buffer);
        if (!r) return "no response";
        return r->status_line + "\n" + r->body;
    };
    for (int i = 0; i < 3; ++i) ASSERT_NE(get("/").find("HTTP/1.1 200 OK"), std::string::npos);
    EXPECT_NE(get("/stats").find("requests: 3"), std::string::npos);

    ProcessResult s = xn({"save", "web", file("web.save")});
    ASSERT_EQ(s.exit_code, 0) << describe(s);
    EXPECT_EQ(get("/"), "no connection") << "the forward went with the domain";
    ProcessResult r = xn({"restore", file("web.save")});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    std::string page;
    EXPECT_TRUE(eventually(
        [&] {
            page = get("/");
            return page.find("HTTP/1.1 200 OK") != std::string::npos;
        },
        10s, 100ms))
        << page << "\n"
        << read_log("guest-web.log");
    EXPECT_NE(page.find("served by a Xenolith unikernel"), std::string::npos) << page;
    // The four requests before the save, the page just fetched (and any retries that got
    // through before it): the server's count went on rather than starting again.
    const std::string stats = get("/stats");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(stats, m, std::regex("requests: ([0-9]+)"))) << stats;
    EXPECT_GE(std::stoul(m[1].str()), 5u) << stats;
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
