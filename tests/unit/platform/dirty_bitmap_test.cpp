// The page bitmap every DirtyLog fills (platform/dirty_bitmap.hpp).
#include "platform/dirty_bitmap.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "base/error.hpp"

namespace xenolith::platform {
namespace {

std::vector<uint64_t> pages_set(const std::vector<uint64_t>& bitmap) {
    std::vector<uint64_t> pages;
    for (uint64_t p = 0; p < bitmap.size() * 64; ++p)
        if (bitmap[p / 64] >> (p % 64) & 1) pages.push_back(p);
    return pages;
}

TEST(DirtyBitmap, MarkSetsExactlyTheRunAcrossWords) {
    std::vector<uint64_t> bitmap(4);
    mark_dirty(bitmap, 62, 68);  // the end of word 0, all of word 1, bits 0-1 of word 2
    EXPECT_EQ(bitmap[0], 0xc000000000000000ull);
    EXPECT_EQ(bitmap[1], ~0ull);
    EXPECT_EQ(bitmap[2], 0x3ull);
    EXPECT_EQ(bitmap[3], 0u);
}

TEST(DirtyBitmap, MarkOrsIntoWhatIsThere) {
    std::vector<uint64_t> bitmap{0x100};
    mark_dirty(bitmap, 0, 1);
    EXPECT_EQ(bitmap[0], 0x101u);
}

TEST(DirtyBitmap, MarkPastTheEndIsAnErrorAndChangesNothing) {
    std::vector<uint64_t> bitmap(2);
    EXPECT_THROW(mark_dirty(bitmap, 127, 2), Error);
    EXPECT_THROW(mark_dirty(bitmap, ~0ull, 2), Error);
    EXPECT_EQ(pages_set(bitmap), std::vector<uint64_t>{});
}

TEST(DirtyBitmap, AlignedSlotIsOredWordForWord) {
    std::vector<uint64_t> bitmap{1, 0, 0};
    const std::vector<uint64_t> slot{0x80, 0x1};
    or_dirty(bitmap, slot, 64, 128);
    EXPECT_EQ(pages_set(bitmap), (std::vector<uint64_t>{0, 64 + 7, 128}));
}

TEST(DirtyBitmap, UnalignedSlotIsShiftedAcrossWords) {
    std::vector<uint64_t> bitmap(3);
    const std::vector<uint64_t> slot{0x8000000000000001ull, 0x2};
    or_dirty(bitmap, slot, 3, 66);  // slot pages 0, 63 and 65 are pages 3, 66 and 68
    EXPECT_EQ(pages_set(bitmap), (std::vector<uint64_t>{3, 66, 68}));
}

TEST(DirtyBitmap, BitsBeyondTheSlotAreIgnored) {
    std::vector<uint64_t> bitmap(1);
    const std::vector<uint64_t> slot{~0ull};
    or_dirty(bitmap, slot, 60, 4);  // kernel padding past the slot's 4 pages
    EXPECT_EQ(pages_set(bitmap), (std::vector<uint64_t>{60, 61, 62, 63}));
}

TEST(DirtyBitmap, TooSmallABitmapIsRefusedUpFront) {
    std::vector<uint64_t> bitmap(2);
    EXPECT_NO_THROW(check_dirty_bitmap(bitmap, 128));
    EXPECT_THROW(check_dirty_bitmap(bitmap, 129), Error);
    const std::vector<uint64_t> slot(1);
    EXPECT_THROW(or_dirty(bitmap, slot, 100, 64), Error);
    EXPECT_THROW(or_dirty(bitmap, slot, 0, 65), Error);  // the slot's bits are too few
}

}  // namespace
}  // namespace xenolith::platform
