// The request checks on their own: every field a hostile frontend controls, and the
// verdict (status and reason) for each; accepted requests decode to the right op and range.
#include "backends/blkback/blkif_request.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace xenolith::blkback {
namespace {

constexpr DiskLimits kDisk{
    .sectors = 2048, .readonly = false, .discard = true, .max_indirect_segments = 256};

blkif_request_t rw(uint8_t op, uint64_t sector, uint8_t nsegs, uint8_t first = 0,
                   uint8_t last = 7) {
    blkif_request_t r{};
    r.operation = op;
    r.id = 0x1234;
    r.sector_number = sector;
    r.nr_segments = nsegs;
    for (uint8_t i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; ++i)
        r.seg[i] = {static_cast<grant_ref_t>(100 + i), first, last};
    return r;
}

Verdict decode(const blkif_request_t& r, const DiskLimits& l = kDisk) {
    BlkRequest out;
    return decode_request(r, l, out);
}

TEST(BlkifRequest, ReadAndWriteDecodeToTheirSectorRange) {
    BlkRequest out;
    ASSERT_TRUE(decode_request(rw(BLKIF_OP_READ, 16, 3, 2, 5), kDisk, out).ok());
    EXPECT_EQ(out.op, BlkOp::Read);
    EXPECT_EQ(out.id, 0x1234u);
    EXPECT_EQ(out.response_op, BLKIF_OP_READ);
    EXPECT_EQ(out.sector, 16u);
    EXPECT_EQ(out.nr_sectors, 12u);
    ASSERT_EQ(out.segments.size(), 3u);
    EXPECT_EQ(out.segments[2].gref, 102u);
    ASSERT_TRUE(decode_request(rw(BLKIF_OP_WRITE, 0, 11), kDisk, out).ok());
    EXPECT_EQ(out.op, BlkOp::Write);
    EXPECT_EQ(out.nr_sectors, 88u);
    EXPECT_FALSE(out.writes_guest_memory());
}

TEST(BlkifRequest, SegmentCountOutsideOneToElevenIsAnError) {
    EXPECT_EQ(decode(rw(BLKIF_OP_READ, 0, 0)).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(rw(BLKIF_OP_WRITE, 0, 12)).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(rw(BLKIF_OP_WRITE, 0, 255)).status, BLKIF_RSP_ERROR);
    // A flush or barrier may carry no data.
    EXPECT_TRUE(decode(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 0)).ok());
    EXPECT_TRUE(decode(rw(BLKIF_OP_WRITE_BARRIER, 0, 0)).ok());
    EXPECT_EQ(decode(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 12)).status, BLKIF_RSP_ERROR);
}

TEST(BlkifRequest, SegmentSectorsMustLieInTheirPage) {
    EXPECT_EQ(decode(rw(BLKIF_OP_READ, 0, 1, 5, 4)).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(rw(BLKIF_OP_READ, 0, 1, 0, 8)).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(rw(BLKIF_OP_READ, 0, 1, 255, 255)).status, BLKIF_RSP_ERROR);
    EXPECT_TRUE(decode(rw(BLKIF_OP_READ, 0, 1, 7, 7)).ok());
    EXPECT_NE(std::string(decode(rw(BLKIF_OP_READ, 0, 1, 5, 4)).reason).find("first_sect"),
              std::string::npos);
}

TEST(BlkifRequest, SectorRangeMustEndInsideTheDiskWithoutOverflow) {
    EXPECT_TRUE(decode(rw(BLKIF_OP_READ, 2048 - 8, 1)).ok());  // the last page
    EXPECT_EQ(decode(rw(BLKIF_OP_READ, 2048 - 7, 1)).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(rw(BLKIF_OP_READ, 2048, 1, 0, 0)).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(rw(BLKIF_OP_READ, std::numeric_limits<uint64_t>::max() - 3, 1)).status,
              BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(rw(BLKIF_OP_WRITE, std::numeric_limits<uint64_t>::max(), 11)).status,
              BLKIF_RSP_ERROR);
}

TEST(BlkifRequest, UnknownOperationsAreNotSupported) {
    for (uint8_t op : {uint8_t{BLKIF_OP_RESERVED_1}, uint8_t{7}, uint8_t{200}}) {
        Verdict v = decode(rw(op, 0, 1));
        EXPECT_EQ(v.status, BLKIF_RSP_EOPNOTSUPP) << int(op);
        EXPECT_STREQ(v.reason, "unknown operation");
    }
}

TEST(BlkifRequest, ReadOnlyDiskRefusesEveryWriteButServesReads) {
    DiskLimits ro = kDisk;
    ro.readonly = true;
    ro.discard = false;
    EXPECT_TRUE(decode(rw(BLKIF_OP_READ, 0, 2), ro).ok());
    EXPECT_EQ(decode(rw(BLKIF_OP_WRITE, 0, 2), ro).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(rw(BLKIF_OP_WRITE_BARRIER, 0, 2), ro).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 2), ro).status, BLKIF_RSP_ERROR);
    EXPECT_TRUE(decode(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 0), ro).ok());
    blkif_request_discard_t d{};
    d.operation = BLKIF_OP_DISCARD;
    d.nr_sectors = 8;
    blkif_request_t raw{};
    std::memcpy(&raw, &d, sizeof d);
    EXPECT_EQ(decode(raw, ro).status, BLKIF_RSP_ERROR);
}

blkif_request_t discard(uint64_t sector, uint64_t count, uint8_t flag = 0) {
    blkif_request_discard_t d{};
    d.operation = BLKIF_OP_DISCARD;
    d.flag = flag;
    d.id = 9;
    d.sector_number = sector;
    d.nr_sectors = count;
    blkif_request_t raw{};
    std::memcpy(&raw, &d, sizeof d);
    return raw;
}

TEST(BlkifRequest, DiscardChecksRangeSecureFlagAndSupport) {
    BlkRequest out;
    ASSERT_TRUE(decode_request(discard(100, 900), kDisk, out).ok());
    EXPECT_EQ(out.op, BlkOp::Discard);
    EXPECT_EQ(out.sector, 100u);
    EXPECT_EQ(out.nr_sectors, 900u);
    EXPECT_EQ(decode(discard(100, 1949)).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(discard(1, std::numeric_limits<uint64_t>::max())).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(discard(0, 8, BLKIF_DISCARD_SECURE)).status, BLKIF_RSP_EOPNOTSUPP);
    DiskLimits no_discard = kDisk;
    no_discard.discard = false;
    EXPECT_EQ(decode(discard(0, 8), no_discard).status, BLKIF_RSP_EOPNOTSUPP);
}

blkif_request_t indirect(uint8_t op, uint16_t nsegs, uint64_t sector = 0) {
    blkif_request_indirect_t ind{};
    ind.operation = BLKIF_OP_INDIRECT;
    ind.indirect_op = op;
    ind.nr_segments = nsegs;
    ind.id = 77;
    ind.sector_number = sector;
    for (uint32_t i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; ++i)
        ind.indirect_grefs[i] = 500 + i;
    blkif_request_t raw{};
    std::memcpy(&raw, &ind, sizeof ind);
    return raw;
}

TEST(BlkifRequest, IndirectHeaderThenItsSegments) {
    BlkRequest out;
    DiskLimits wide = kDisk;
    wide.max_indirect_segments = 1024;
    ASSERT_TRUE(decode_request(indirect(BLKIF_OP_WRITE, 513), wide, out).ok());
    EXPECT_TRUE(out.indirect);
    EXPECT_EQ(out.response_op, BLKIF_OP_WRITE);
    EXPECT_EQ(out.nr_indirect_pages, 2u);
    EXPECT_EQ(out.indirect_refs[1], 501u);
    out.segments.assign(513, blkif_request_segment{1, 0, 0});
    ASSERT_TRUE(check_segments(out, wide).ok());
    EXPECT_EQ(out.nr_sectors, 513u);
    out.segments[300].last_sect = 9;
    EXPECT_EQ(check_segments(out, wide).status, BLKIF_RSP_ERROR);
    // The whole range must fit: 256 full pages from sector 1 do not fit 2048 sectors.
    ASSERT_TRUE(decode_request(indirect(BLKIF_OP_READ, 256, 1), kDisk, out).ok());
    out.segments.assign(256, blkif_request_segment{1, 0, 7});
    EXPECT_EQ(check_segments(out, kDisk).status, BLKIF_RSP_ERROR);
}

TEST(BlkifRequest, IndirectLimits) {
    EXPECT_EQ(decode(indirect(BLKIF_OP_READ, 0)).status, BLKIF_RSP_ERROR);
    EXPECT_TRUE(decode(indirect(BLKIF_OP_READ, 256)).ok());
    EXPECT_EQ(decode(indirect(BLKIF_OP_READ, 257)).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(indirect(BLKIF_OP_READ, 65535)).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(indirect(BLKIF_OP_FLUSH_DISKCACHE, 4)).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(decode(indirect(BLKIF_OP_INDIRECT, 4)).status, BLKIF_RSP_ERROR);
    DiskLimits none = kDisk;
    none.max_indirect_segments = 0;
    EXPECT_EQ(decode(indirect(BLKIF_OP_READ, 4), none).status, BLKIF_RSP_EOPNOTSUPP);
    DiskLimits ro = kDisk;
    ro.readonly = true;
    EXPECT_EQ(decode(indirect(BLKIF_OP_WRITE, 4), ro).status, BLKIF_RSP_ERROR);
}

}  // namespace
}  // namespace xenolith::blkback
