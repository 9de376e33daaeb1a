// Both I/O engines on a real file, through the one interface: scattered reads and writes
// land byte for byte, sync and discard complete, tags come back, errors are negative
// errnos; and the image's geometry and errors.
#include "backends/blkback/io_engine.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>

#include <map>

#include "backends/blkback/image.hpp"
#include "base/error.hpp"
#include "tests/unit/backends/blkback/temp_image.hpp"

namespace xenolith::blkback {
namespace {

using testing::pattern_byte;
using testing::TempImage;

TEST(BlkImage, FileGeometryAndDiscardSupport) {
    TempImage file(1 << 20);
    Image rw(file.path(), Image::Access::ReadWrite);
    EXPECT_EQ(rw.sectors(), 2048u);
    EXPECT_EQ(rw.sector_size(), 512u);
    EXPECT_FALSE(rw.readonly());
    EXPECT_FALSE(rw.block_device());
    // The temp directory's file system (ext4, tmpfs) punches holes.
    EXPECT_TRUE(rw.discard_supported());
    EXPECT_GE(rw.discard_granularity(), 512u);
    Image ro(file.path(), Image::Access::ReadOnly);
    EXPECT_TRUE(ro.readonly());
    EXPECT_FALSE(ro.discard_supported());
    EXPECT_EQ(ro.discard(0, 4096), -EOPNOTSUPP);
    TempImage odd(1000);  // a partial last sector is not part of the disk
    EXPECT_EQ(Image(odd.path(), Image::Access::ReadOnly).sectors(), 1u);
}

TEST(BlkImage, ErrorsNameThePathAndErrno) {
    try {
        Image img("/nonexistent/xenolith-disk.img", Image::Access::ReadOnly);
        FAIL() << "opened a missing file";
    } catch (const SystemError& e) {
        EXPECT_EQ(e.code(), ENOENT);
        EXPECT_NE(std::string(e.what()).find("/nonexistent/xenolith-disk.img"), std::string::npos)
            << e.what();
    }
    EXPECT_THROW(Image("/tmp", Image::Access::ReadOnly), Error);  // a directory
}

class IoEngineTest : public ::testing::TestWithParam<IoEngineKind> {
  protected:
    std::unique_ptr<IoEngine> engine(std::shared_ptr<Image> image) {
        return make_io_engine(image, GetParam(), 32);
    }
    // Waits for `n` completions, keyed by tag.
    static std::map<uint64_t, int64_t> wait(IoEngine& e, size_t n) {
        std::map<uint64_t, int64_t> got;
        pollfd fd{e.event_fd(), POLLIN, 0};
        while (got.size() < n) {
            if (::poll(&fd, 1, 5000) <= 0) break;
            for (auto c : e.reap()) got[c.tag] = c.result;
        }
        return got;
    }
};

TEST_P(IoEngineTest, ScatteredWriteThenReadRoundTrips) {
    TempImage file(1 << 20);
    auto image = Image::open(file.path(), Image::Access::ReadWrite);
    auto e = engine(image);
    EXPECT_STREQ(e->name(), to_string(GetParam()));
    std::vector<uint8_t> a(512, 0xaa), b(1024, 0xbb);
    iovec wiov[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
    IoOp w{IoOp::Kind::Write, 8192, 0, wiov, 1};
    e->submit({&w, 1});
    auto done = wait(*e, 1);
    ASSERT_EQ(done.count(1), 1u);
    EXPECT_EQ(done[1], 1536);
    std::vector<uint8_t> ra(1000), rb(536);
    iovec riov[2] = {{ra.data(), ra.size()}, {rb.data(), rb.size()}};
    IoOp ops[2] = {{IoOp::Kind::Read, 8192, 0, riov, 2}, {IoOp::Kind::Sync, 0, 0, {}, 3}};
    e->submit(ops);
    done = wait(*e, 2);
    EXPECT_EQ(done[2], 1536);
    EXPECT_EQ(done[3], 0);
    for (size_t i = 0; i < 512; ++i) ASSERT_EQ(ra[i], 0xaa) << i;
    for (size_t i = 512; i < 1000; ++i) ASSERT_EQ(ra[i], 0xbb) << i;
    for (uint8_t v : rb) ASSERT_EQ(v, 0xbb);
    EXPECT_EQ(file.read(8192 + 1536, 1)[0], pattern_byte(8192 + 1536));  // nothing past the end
}

TEST_P(IoEngineTest, DiscardPunchesAHole) {
    TempImage file(1 << 20);
    auto image = Image::open(file.path(), Image::Access::ReadWrite);
    auto e = engine(image);
    uint64_t before = file.allocated_blocks();
    IoOp d{IoOp::Kind::Discard, 65536, 262144, {}, 7};
    e->submit({&d, 1});
    auto done = wait(*e, 1);
    EXPECT_EQ(done[7], 0);
    EXPECT_LE(file.allocated_blocks() + 262144 / 512, before);
    auto zeros = file.read(65536, 262144);
    for (uint8_t v : zeros) ASSERT_EQ(v, 0);
    EXPECT_EQ(file.read(65535, 1)[0], pattern_byte(65535));
}

TEST_P(IoEngineTest, ManyOpsInOneBatchAllComplete) {
    TempImage file(1 << 20);
    auto image = Image::open(file.path(), Image::Access::ReadOnly);
    auto e = engine(image);
    std::vector<std::vector<uint8_t>> bufs(64, std::vector<uint8_t>(4096));
    std::vector<iovec> iov(64);
    std::vector<IoOp> ops(64);
    for (size_t i = 0; i < 64; ++i) {
        iov[i] = {bufs[i].data(), 4096};
        ops[i] = {IoOp::Kind::Read, i * 8192, 0, {&iov[i], 1}, 100 + i};
    }
    e->submit(ops);  // more than the engine's depth of 32: it must still take them all
    auto done = wait(*e, 64);
    ASSERT_EQ(done.size(), 64u);
    for (size_t i = 0; i < 64; ++i) {
        EXPECT_EQ(done[100 + i], 4096);
        EXPECT_EQ(bufs[i][5], pattern_byte(i * 8192 + 5));
    }
}

TEST_P(IoEngineTest, FailuresAreNegativeErrnos) {
    TempImage file(1 << 20);
    auto image = Image::open(file.path(), Image::Access::ReadOnly);
    auto e = engine(image);
    std::vector<uint8_t> buf(512);
    iovec iov{buf.data(), buf.size()};
    IoOp w{IoOp::Kind::Write, 0, 0, {&iov, 1}, 5};  // the fd is read-only
    e->submit({&w, 1});
    auto done = wait(*e, 1);
    EXPECT_EQ(done[5], -EBADF);
}

INSTANTIATE_TEST_SUITE_P(Engines, IoEngineTest,
                         ::testing::Values(IoEngineKind::Uring, IoEngineKind::Worker),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(IoEngineKindFromEnv, ReadsXenolithBlkIoAndSteersAuto) {
    ::setenv("XENOLITH_BLK_IO", "worker", 1);
    EXPECT_EQ(io_engine_kind_from_env(), IoEngineKind::Worker);
    ::setenv("XENOLITH_BLK_IO", "uring", 1);
    EXPECT_EQ(io_engine_kind_from_env(), IoEngineKind::Uring);
    TempImage file(4096);
    auto image = Image::open(file.path(), Image::Access::ReadOnly);
    EXPECT_STREQ(make_io_engine(image, IoEngineKind::Auto, 8)->name(), "uring");
    EXPECT_STREQ(make_io_engine(image, IoEngineKind::Worker, 8)->name(), "worker");
    ::setenv("XENOLITH_BLK_IO", "worker", 1);
    EXPECT_STREQ(make_io_engine(image, IoEngineKind::Auto, 8)->name(), "worker");
    ::setenv("XENOLITH_BLK_IO", "bogus", 1);
    EXPECT_THROW(io_engine_kind_from_env(), Error);
    ::unsetenv("XENOLITH_BLK_IO");
    EXPECT_EQ(io_engine_kind_from_env(), IoEngineKind::Auto);
}

}  // namespace
}  // namespace xenolith::blkback
