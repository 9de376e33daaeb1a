// Pumice's blkfront against the daemon's real blkback, through `xn run` with disk= in the
// config, as a user runs it: the pattern the guest wrote is in the image afterwards, a
// read-only disk stays unchanged, every record the guest saw durable is on disk, and a
// disk that cannot be opened fails the boot with the spec's position. Each test runs on
// both I/O engines (io_uring and the worker threads).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <regex>

#include "common/blk_pattern.hpp"
#include "tests/integration/harness.hpp"

namespace xenolith::integration {
namespace {

using Lines = std::vector<std::string>;

class Blkback : public IntegrationTest, public ::testing::WithParamInterface<const char*> {
  protected:
    void SetUp() override {
        IntegrationTest::SetUp();
        ::setenv("XENOLITH_BLK_IO", GetParam(), 1);
    }
    void TearDown() override { ::unsetenv("XENOLITH_BLK_IO"); }

    // A zeroed raw image of `mib` MiB.
    std::string image(const std::string& name, unsigned mib) {
        std::string path = dir_.path() + "/" + name;
        std::ofstream f(path, std::ios::binary);
        f.seekp(static_cast<std::streamoff>(mib) * 1024 * 1024 - 1);
        f.put('\0');
        return path;
    }
    std::vector<uint8_t> read_sector(const std::string& path, uint64_t sector) {
        std::vector<uint8_t> buf(xenolith_common::kBlkSector);
        std::ifstream f(path, std::ios::binary);
        f.seekg(static_cast<std::streamoff>(sector * buf.size()));
        f.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
        return buf;
    }
    ProcessResult run(const std::string& app, const std::string& extra, const std::string& disks) {
        GuestConfig cfg = app_config(app, extra);
        std::string text = cfg.text() + "disk = [" + disks + "]\n";
        return xn_run(dir_.write(cfg.name + ".cfg", text), {"-q"});
    }
    static bool has_line(const Lines& lines, const std::string& line) {
        return std::find(lines.begin(), lines.end(), line) != lines.end();
    }

    TempDir dir_;
};

TEST_P(Blkback, TheGuestsPatternIsInTheImage) {
    std::string img = image("disk.img", 16);
    ProcessResult r = run("blktest", "seed=7 start=64 count=2048", "'" + img + ",raw,xvda,rw'");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    Lines out = split_lines(r.out);
    EXPECT_TRUE(has_line(out, "blktest: xvda sectors=32768 sector-size=512 ro=0")) << r.out;
    ASSERT_TRUE(has_line(out, "blktest: ok")) << r.out;
    // blktest discards the first 8 sectors of its range: holes read as zeros.
    EXPECT_TRUE(has_line(out, "blktest: discard sectors 64..71 rc=0")) << r.out;
    for (uint64_t s : {64u, 71u})
        EXPECT_EQ(read_sector(img, s), std::vector<uint8_t>(xenolith_common::kBlkSector, 0));
    uint8_t want[xenolith_common::kBlkSector];
    for (uint64_t s : {72u, 73u, 1000u, 2111u}) {
        xenolith_common::fill_sector(want, s, 7);
        EXPECT_EQ(read_sector(img, s), std::vector<uint8_t>(want, want + sizeof want))
            << "sector " << s;
    }
    EXPECT_EQ(read_sector(img, 63), std::vector<uint8_t>(xenolith_common::kBlkSector, 0));
}

TEST_P(Blkback, AReadOnlyDiskRefusesWritesAndStaysUnchanged) {
    std::string img = image("ro.img", 4);
    ProcessResult r = run("blktest", "expect_ro=1", "'vdev=xvda,access=ro,target=" + img + "'");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    Lines out = split_lines(r.out);
    EXPECT_TRUE(has_line(out, "blktest: xvda sectors=8192 sector-size=512 ro=1")) << r.out;
    EXPECT_TRUE(has_line(out, "blktest: read-only write rc=-5 (backend)")) << r.out;
    EXPECT_TRUE(has_line(out, "blktest: ok")) << r.out;
    for (uint64_t s : {0u, 1u, 100u})
        EXPECT_EQ(read_sector(img, s), std::vector<uint8_t>(xenolith_common::kBlkSector, 0));
}

TEST_P(Blkback, EveryRecordReportedDurableIsOnDisk) {
    std::string img = image("journal.img", 4);
    ProcessResult r =
        run("blktest", "mode=journal start=8 records=300 seed=3", "'" + img + ",raw,xvda,w'");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    std::regex durable("blktest: durable seq=([0-9]+) crc=([0-9a-f]{8})");
    unsigned seen = 0;
    for (const std::string& line : split_lines(r.out)) {
        std::smatch m;
        if (!std::regex_match(line, m, durable)) continue;
        uint64_t seq = std::stoull(m[1]);
        auto sector = read_sector(img, 8 + seq - 1);
        char crc[9];
        std::snprintf(crc, sizeof crc, "%08x",
                      xenolith_common::crc32(sector.data(), sector.size()));
        EXPECT_EQ(std::string(crc), m[2].str()) << "record " << seq;
        ++seen;
    }
    EXPECT_EQ(seen, 300u) << r.out;
}

// kill -9 of the process serving the disk in the middle of a write burst: every record the
// guest was told is durable (its flush answered) is in the image afterwards.
TEST_P(Blkback, AcknowledgedWritesSurviveKillMinus9) {
    std::string img = image("crash.img", 64);
    GuestConfig cfg = app_config("blktest", "mode=journal start=0 records=100000 seed=9");
    std::string path = dir_.write("crash.cfg", cfg.text() + "disk = ['" + img + ",raw,xvda,w']\n");
    bool killed = false;
    ProcessResult r = xn_run(path, {"-q"}, 60s, [&](pid_t pid, const ProcessResult& so_far) {
        size_t lines = 0;
        for (size_t at = 0; (at = so_far.out.find("blktest: durable", at)) != std::string::npos;
             ++at)
            ++lines;
        if (lines >= 400 && !killed) {
            ::kill(pid, SIGKILL);
            killed = true;
        }
    });
    ASSERT_TRUE(killed) << describe(r);
    EXPECT_EQ(r.term_signal, SIGKILL) << describe(r);
    std::regex durable("blktest: durable seq=([0-9]+) crc=([0-9a-f]{8})");
    unsigned checked = 0;
    for (const std::string& line : split_lines(r.out)) {
        std::smatch m;
        if (!std::regex_match(line, m, durable)) continue;
        uint64_t seq = std::stoull(m[1]);
        auto sector = read_sector(img, seq - 1);
        char crc[9];
        std::snprintf(crc, sizeof crc, "%08x",
                      xenolith_common::crc32(sector.data(), sector.size()));
        EXPECT_EQ(std::string(crc), m[2].str()) << "record " << seq << " was acknowledged";
        ++checked;
    }
    EXPECT_GE(checked, 400u);
}

TEST_P(Blkback, TwoDisksAndTheBenchmark) {
    std::string a = image("a.img", 8), b = image("b.img", 2);
    ProcessResult r = run("blktest", "mode=list", "'" + a + ",raw,xvda,w', '" + b + ",raw,xvdb,r'");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    Lines out = split_lines(r.out);
    EXPECT_TRUE(has_line(out, "blktest: vbd 51712 xvda sectors=16384 sector-size=512 ro=0"))
        << r.out;
    EXPECT_TRUE(has_line(out, "blktest: vbd 51728 xvdb sectors=4096 sector-size=512 ro=1"))
        << r.out;
    ProcessResult bench =
        run("blkbench", "mode=seqwrite mib=4 qd=4 seconds=1", "'" + a + ",raw,xvda,w'");
    ASSERT_EQ(bench.exit_code, 0) << describe(bench);
    EXPECT_NE(bench.out.find("blkbench: seqwrite bytes="), std::string::npos) << bench.out;
}

TEST_P(Blkback, AMissingImageFailsTheBootAtItsSpec) {
    ProcessResult r = run("blktest", "", "'/nonexistent/disk.img,raw,xvda,w'");
    EXPECT_EQ(r.exit_code, 125) << describe(r);
    EXPECT_NE(r.err.find(":9:"), std::string::npos) << r.err;  // the disk line of the config
    EXPECT_NE(r.err.find("disk xvda"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("/nonexistent/disk.img"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Engines, Blkback, ::testing::Values("uring", "worker"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace xenolith::integration
