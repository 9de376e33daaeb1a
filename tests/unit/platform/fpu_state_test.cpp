// platform::FpuState: the x87/SSE/AVX state save/restore carries, taken from and put into
// the XSAVE areas the platforms give (docs/domain-stream.md).
#include "platform/fpu_state.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace xenolith::platform {
namespace {

uint64_t u64_at(std::span<const uint8_t> b, size_t off) {
    uint64_t v;
    std::memcpy(&v, b.data() + off, sizeof v);
    return v;
}
void put64(std::span<uint8_t> b, size_t off, uint64_t v) {
    std::memcpy(b.data() + off, &v, 8);
}

TEST(FpuState, InitialIsFninitWithTheResetMxcsr) {
    const FpuState s = FpuState::initial();
    EXPECT_EQ(s.bytes[0] | (s.bytes[1] << 8), 0x037f);
    EXPECT_EQ(u64_at(s.bytes, 24) & 0xffffffff, 0x1f80u);
    EXPECT_EQ(s.xstate_bv(), kXfeatureX87 | kXfeatureSse);
}

TEST(FpuState, AComponentMarkedInitialIsTakenAsInitialWhateverItsBytes) {
    std::vector<uint8_t> area(4096, 0xaa);
    put64(area, 512, 0);  // XSTATE_BV: every component initial
    put64(area, 520, 0);
    const FpuState s = FpuState::from_xsave(area);
    EXPECT_EQ(s.bytes[0] | (s.bytes[1] << 8), 0x037f);
    EXPECT_EQ(s.bytes[32], 0) << "ST0";
    EXPECT_EQ(s.bytes[160], 0) << "XMM0";
    EXPECT_EQ(s.bytes[576], 0) << "YMM0's upper half";
    EXPECT_EQ(s.xstate_bv(), kXfeatureX87 | kXfeatureSse);
    // Bytes 464-511 are software's: never taken.
    EXPECT_EQ(s.bytes[470], 0);
}

TEST(FpuState, AvxStateMovesOnlyWhereTheTargetHasAvx) {
    std::vector<uint8_t> area(4096, 0);
    area[160] = 7;                                                             // XMM0
    area[576] = 9;                                                             // YMM0's upper half
    put64(area, 512, kXfeatureX87 | kXfeatureSse | kXfeatureAvx | (1u << 9));  // and PKRU
    const FpuState s = FpuState::from_xsave(area);
    EXPECT_EQ(s.xstate_bv(), kMovedXfeatures) << "only x87, SSE and AVX are carried";

    std::vector<uint8_t> with_avx(2048, 0x55);
    put64(with_avx, 512, 1u << 9);
    put64(with_avx, 520, 0);
    EXPECT_EQ(s.into_xsave(with_avx, kMovedXfeatures | (1u << 9)), "");
    EXPECT_EQ(with_avx[160], 7);
    EXPECT_EQ(with_avx[576], 9);
    EXPECT_EQ(u64_at(with_avx, 512), kMovedXfeatures | (1u << 9)) << "the target's PKRU bit stays";
    EXPECT_EQ(with_avx[470], 0x55) << "software's bytes stay the target's";

    std::vector<uint8_t> no_avx(4096, 0);
    EXPECT_NE(s.into_xsave(no_avx, kXfeatureX87 | kXfeatureSse), "");
    // AVX marked in use but all zeros is no state to lose.
    FpuState zero_upper = s;
    zero_upper.bytes[576] = 0;
    EXPECT_EQ(zero_upper.into_xsave(no_avx, kXfeatureX87 | kXfeatureSse), "");
    EXPECT_EQ(no_avx[160], 7);
    EXPECT_EQ(u64_at(no_avx, 512), kXfeatureX87 | kXfeatureSse);
}

TEST(FpuState, ABareFxsaveAreaIsX87AndSse) {
    std::vector<uint8_t> fx(512, 0);
    fx[160] = 3;
    const FpuState s = FpuState::from_xsave(fx);
    EXPECT_EQ(s.xstate_bv(), kXfeatureX87 | kXfeatureSse);
    std::vector<uint8_t> back(512, 0);
    EXPECT_EQ(s.into_xsave(back, kXfeatureX87 | kXfeatureSse), "");
    EXPECT_EQ(back[160], 3);
}

}  // namespace
}  // namespace xenolith::platform
