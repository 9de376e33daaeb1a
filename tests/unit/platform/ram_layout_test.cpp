// How KVM's RAM slots are laid out around watched pages (platform/kvm/ram_layout.hpp).
#include "platform/kvm/ram_layout.hpp"

#include <gtest/gtest.h>

namespace xenolith::kvm {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(RamRuns, NothingWatchedIsOneWritableRun) {
    EXPECT_EQ(ram_runs({}, 32 * kMiB), (std::vector<RamRun>{{0, 32 * kMiB, false}}));
}

TEST(RamRuns, OnePageInTheMiddleSplitsRamInThree) {
    EXPECT_EQ(ram_runs({0x102000}, 32 * kMiB),
              (std::vector<RamRun>{
                  {0, 0x102000, false}, {0x102000, 0x103000, true}, {0x103000, 32 * kMiB, false}}));
}

TEST(RamRuns, AdjacentPagesAreOneReadOnlyRunAndGapsStayWritable) {
    EXPECT_EQ(ram_runs({0x1000, 0x2000, 0x4000}, 0x10000),
              (std::vector<RamRun>{{0, 0x1000, false},
                                   {0x1000, 0x3000, true},
                                   {0x3000, 0x4000, false},
                                   {0x4000, 0x5000, true},
                                   {0x5000, 0x10000, false}}));
}

TEST(RamRuns, WatchedEndsNeedNoEmptyRuns) {
    EXPECT_EQ(
        ram_runs({0x0, 0xf000}, 0x10000),
        (std::vector<RamRun>{{0, 0x1000, true}, {0x1000, 0xf000, false}, {0xf000, 0x10000, true}}));
    EXPECT_EQ(ram_runs({0x0}, 0x1000), (std::vector<RamRun>{{0, 0x1000, true}}));
}

}  // namespace
}  // namespace xenolith::kvm
