#include <gtest/gtest.h>

#include "toolstack/xn/commands.hpp"

namespace xenolith::xn {
namespace {

TEST(MemSize, ReadsSizesAsXlDoes) {
    uint64_t kib = 0;
    ASSERT_TRUE(parse_mem_size_kib("256", kib));
    EXPECT_EQ(kib, 256u << 10);  // MiB without a suffix
    ASSERT_TRUE(parse_mem_size_kib("256m", kib));
    EXPECT_EQ(kib, 256u << 10);
    ASSERT_TRUE(parse_mem_size_kib("1G", kib));
    EXPECT_EQ(kib, 1u << 20);
    ASSERT_TRUE(parse_mem_size_kib("2t", kib));
    EXPECT_EQ(kib, uint64_t{2} << 30);
    ASSERT_TRUE(parse_mem_size_kib("4096k", kib));
    EXPECT_EQ(kib, 4096u);
    ASSERT_TRUE(parse_mem_size_kib("1048576b", kib));
    EXPECT_EQ(kib, 1024u);
}

TEST(MemSize, RefusesWhatXlRefuses) {
    uint64_t kib = 0;
    for (const char* bad : {"", "m", "-1", "12mb", "1x", "abc", "99999999999999999999", "18446744073709551615t"})
        EXPECT_FALSE(parse_mem_size_kib(bad, kib)) << bad;
}

}  // namespace
}  // namespace xenolith::xn
