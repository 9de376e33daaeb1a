#include "platform/fpu_state.hpp"

#include <algorithm>
#include <cstring>

namespace xenolith::platform {

namespace {

// Bytes 464-511 of the legacy area are software's (the kernel's fx_sw_bytes); they are
// neither saved nor overwritten.
constexpr size_t kLegacyHardwareBytes = 464;
constexpr size_t kMxcsrOffset = 24;
constexpr size_t kX87RegistersOffset = 32, kX87RegistersBytes = 128;
constexpr size_t kXmmOffset = 160, kXmmBytes = 256;
constexpr uint16_t kFninitControlWord = 0x037f;
constexpr uint32_t kMxcsrReset = 0x1f80;

uint64_t load64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
void store64(uint8_t* p, uint64_t v) {
    std::memcpy(p, &v, sizeof v);
}

bool all_zero(std::span<const uint8_t> bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace

FpuState FpuState::initial() {
    FpuState s;
    std::memcpy(s.bytes.data(), &kFninitControlWord, sizeof kFninitControlWord);
    std::memcpy(s.bytes.data() + kMxcsrOffset, &kMxcsrReset, sizeof kMxcsrReset);
    // XSTATE_BV 0 would mean "initial" for x87/SSE too, but MXCSR is not in its initial
    // configuration only when SSE's bit is set; keep both so the area says what it holds.
    store64(s.bytes.data() + kFpuLegacyBytes, kXfeatureX87 | kXfeatureSse);
    return s;
}

FpuState FpuState::from_xsave(std::span<const uint8_t> area) {
    FpuState s;
    std::memcpy(s.bytes.data(), area.data(), std::min(area.size(), kLegacyHardwareBytes));
    uint64_t bv = kXfeatureX87 | kXfeatureSse;
    if (area.size() >= kFpuLegacyBytes + 8) bv = load64(area.data() + kFpuLegacyBytes);
    bv &= kMovedXfeatures;
    // A component whose bit is clear is in its initial state, whatever its bytes say (an
    // XSAVE may leave them stale): write that state out, so the copy says what it holds.
    if (!(bv & kXfeatureX87)) {
        std::memset(s.bytes.data(), 0, kMxcsrOffset);
        std::memcpy(s.bytes.data(), &kFninitControlWord, sizeof kFninitControlWord);
        std::memset(s.bytes.data() + kX87RegistersOffset, 0, kX87RegistersBytes);
    }
    if (!(bv & kXfeatureSse)) std::memset(s.bytes.data() + kXmmOffset, 0, kXmmBytes);
    bv |= kXfeatureX87 | kXfeatureSse;
    if ((bv & kXfeatureAvx) && area.size() >= kFpuStateBytes)
        std::memcpy(s.bytes.data() + kYmmHiOffset, area.data() + kYmmHiOffset, kYmmHiBytes);
    else
        bv &= ~kXfeatureAvx;
    store64(s.bytes.data() + kFpuLegacyBytes, bv);
    return s;
}

uint64_t FpuState::xstate_bv() const {
    return load64(bytes.data() + kFpuLegacyBytes);
}

std::string FpuState::into_xsave(std::span<uint8_t> area, uint64_t supported) const {
    uint64_t bv = xstate_bv() & kMovedXfeatures;
    const std::span<const uint8_t> ymm_hi(bytes.data() + kYmmHiOffset, kYmmHiBytes);
    const bool avx_in_use = (bv & kXfeatureAvx) && !all_zero(ymm_hi);
    const bool target_avx = (supported & kXfeatureAvx) && area.size() >= kFpuStateBytes;
    if (avx_in_use && !target_avx)
        return "the saved vCPU has AVX state in use and this vCPU has no AVX";
    if (!target_avx) bv &= ~kXfeatureAvx;
    std::memcpy(area.data(), bytes.data(), std::min(area.size(), kLegacyHardwareBytes));
    if (area.size() < kFpuLegacyBytes + kXsaveHeaderBytes) return {};
    // Only the moved components' bits change; XCOMP_BV stays 0 (standard format).
    const uint64_t old_bv = load64(area.data() + kFpuLegacyBytes);
    store64(area.data() + kFpuLegacyBytes, (old_bv & ~kMovedXfeatures) | (bv & supported));
    if (target_avx) std::memcpy(area.data() + kYmmHiOffset, ymm_hi.data(), kYmmHiBytes);
    return {};
}

}  // namespace xenolith::platform
