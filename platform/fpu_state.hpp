// A vCPU's x87, SSE and AVX state in the form save/restore moves it between vCPUs, hosts and
// platforms (docs/domain-stream.md): the XSAVE standard format's first 832 bytes, that is
// the legacy FXSAVE area (512 bytes), the XSAVE header (64) and the YMM_Hi128 component
// (256, at its architectural offset 576). Only bits 0-2 (x87, SSE, AVX) of the header's
// XSTATE_BV are kept; other components (AVX-512, PKRU, ...) are not moved, and PV guests
// here have no use for them (the PV KVM vCPU does not even enable AVX).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace xenolith::platform {

inline constexpr size_t kFpuLegacyBytes = 512;
inline constexpr size_t kXsaveHeaderBytes = 64;
inline constexpr size_t kYmmHiOffset = kFpuLegacyBytes + kXsaveHeaderBytes;  // 576
inline constexpr size_t kYmmHiBytes = 256;
inline constexpr size_t kFpuStateBytes = kYmmHiOffset + kYmmHiBytes;  // 832
inline constexpr uint64_t kXfeatureX87 = 1, kXfeatureSse = 2, kXfeatureAvx = 4;
inline constexpr uint64_t kMovedXfeatures = kXfeatureX87 | kXfeatureSse | kXfeatureAvx;

struct FpuState {
    std::array<uint8_t, kFpuStateBytes> bytes{};

    // The state after FNINIT with MXCSR at its reset value: what a fresh vCPU has.
    static FpuState initial();
    // From an XSAVE standard-format area (ptrace's NT_X86_XSTATE, KVM_GET_XSAVE) or a bare
    // 512-byte FXSAVE area (then x87 and SSE count as in use).
    static FpuState from_xsave(std::span<const uint8_t> area);
    uint64_t xstate_bv() const;
    // Writes this state into `area`, a standard-format XSAVE area the target platform gave
    // (its other components stay as they are), for a target whose XCR0 holds `supported`.
    // Returns an empty string, or why it cannot: AVX state in use where the target has no
    // AVX. A 512-byte `area` takes the legacy part only (and the same check).
    std::string into_xsave(std::span<uint8_t> area, uint64_t supported) const;
};

}  // namespace xenolith::platform
