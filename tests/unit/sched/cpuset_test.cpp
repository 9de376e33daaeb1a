// CpuSet: the set operations schedulers rely on, and xl's notation for printing.
#include <gtest/gtest.h>

#include "abi/xen.hpp"
#include "sched/cpuset.hpp"
#include "tests/unit/sched/errno_of.hpp"

namespace xenolith::sched::testing {
namespace {

TEST(CpuSet, SetOperations) {
    const CpuSet a{0, 1, 2, 70}, b{2, 3, 70, 1023};
    EXPECT_EQ(a & b, (CpuSet{2, 70}));
    EXPECT_EQ(a | b, (CpuSet{0, 1, 2, 3, 70, 1023}));
    EXPECT_EQ(a - b, (CpuSet{0, 1}));
    EXPECT_TRUE(a.intersects(b));
    EXPECT_FALSE((CpuSet{0}).intersects(CpuSet{1}));
    EXPECT_TRUE((CpuSet{2, 70}).is_subset_of(a));
    EXPECT_EQ(a.count(), 4u);
    EXPECT_EQ(b.first(), 2u);
    EXPECT_EQ(a.next_from(3), 70u);
    EXPECT_EQ(a.next_from(71), std::nullopt);
    EXPECT_EQ(CpuSet{}.first(), std::nullopt);
    EXPECT_EQ(b.list(), (std::vector<Cpu>{2, 3, 70, 1023}));
    EXPECT_FALSE(a.contains(5000));
    EXPECT_EQ(CpuSet::all().count(), CpuSet::kMaxCpus);
    EXPECT_EQ(CpuSet::first_n(3), (CpuSet{0, 1, 2}));
    EXPECT_EQ(errno_of([] { CpuSet{}.add(CpuSet::kMaxCpus); }), XEN_EINVAL);
}

TEST(CpuSet, PrintsLikeXl) {
    EXPECT_EQ((CpuSet{0, 1, 2, 3, 6}).to_string(), "0-3,6");
    EXPECT_EQ((CpuSet{5}).to_string(), "5");
    EXPECT_EQ(CpuSet{}.to_string(), "none");
    EXPECT_EQ(CpuSet::all().to_string(), "all");
    EXPECT_EQ((CpuSet{63, 64, 65, 200}).to_string(), "63-65,200");
}

}  // namespace
}  // namespace xenolith::sched::testing
