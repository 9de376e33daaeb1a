#include "boot/hypercall_sites.hpp"

#include <elf.h>
#include <string.h>  // memmem

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <span>

namespace xenolith::boot {

namespace {

constexpr std::array<uint8_t, 3> kVmmcall = {0x0f, 0x01, 0xd9};
constexpr std::array<uint8_t, 3> kVmcall = {0x0f, 0x01, 0xc1};
constexpr uint8_t kRet = 0xc3;
constexpr uint8_t kJmpRel32 = 0xe9;  // jmp __x86_return_thunk where return thunks are built in
constexpr size_t kJmpRel32Length = 5;
constexpr uint8_t kInt3 = 0xcc;
constexpr uint8_t kNop = 0x90;
constexpr uint8_t kOperandSizePrefix = 0x66;
constexpr uint8_t kCsPrefix = 0x2e;
constexpr size_t kMaxInstructionLength = 15;
// Both functions start 16-byte aligned, so what lies between the first's return and the
// second's vmcall (an int3 after the return, then alignment padding) is under 16 bytes.
constexpr size_t kMaxPadding = 15;

bool starts_with(std::span<const uint8_t> code, size_t at, std::span<const uint8_t> what) {
    return at <= code.size() && what.size() <= code.size() - at &&
           std::memcmp(code.data() + at, what.data(), what.size()) == 0;
}

// The length of the return instruction at `at`, or 0 when there is none.
size_t return_length(std::span<const uint8_t> code, size_t at) {
    if (at >= code.size()) return 0;
    if (code[at] == kRet) return 1;
    if (code[at] == kJmpRel32 && kJmpRel32Length <= code.size() - at) return kJmpRel32Length;
    return 0;
}

// The length of the padding instruction at `at`, or 0 when there is none. Padding is int3
// or a NOP in the forms assemblers and linkers emit: 90, 66 90, and 0f 1f /0 with any
// addressing form, behind any number of 66 and 2e prefixes (66 2e 0f 1f 84 00 00 00 00 00).
size_t padding_length(std::span<const uint8_t> code, size_t at) {
    const size_t end = std::min(code.size(), at + kMaxInstructionLength);
    if (at >= end) return 0;
    if (code[at] == kInt3 || code[at] == kNop) return 1;
    size_t i = at;
    while (i < end && (code[i] == kOperandSizePrefix || code[i] == kCsPrefix)) ++i;
    if (i < end && code[i] == kNop) return code[at] == kOperandSizePrefix && i == at + 1 ? 2 : 0;
    if (end - i < 3 || code[i] != 0x0f || code[i + 1] != 0x1f) return 0;
    const uint8_t modrm = code[i + 2];
    i += 3;
    if ((modrm >> 3 & 7) != 0) return 0;  // only /0 is the NOP
    const unsigned mod = modrm >> 6;
    const unsigned rm = modrm & 7;
    size_t displacement = mod == 1 ? 1 : mod == 2 ? 4 : 0;
    if (mod != 3 && rm == 4) {  // a SIB byte follows
        if (i >= end) return 0;
        if (mod == 0 && (code[i] & 7) == 5) displacement = 4;
        ++i;
    }
    if (mod == 0 && rm == 5) displacement = 4;  // RIP-relative
    if (end - i < displacement) return 0;
    return i + displacement - at;
}

// When a vmmcall/vmcall pair starts at `at` (on the vmmcall), the vmcall's offset.
std::optional<size_t> pair_at(std::span<const uint8_t> code, size_t at) {
    if (!starts_with(code, at, kVmmcall)) return std::nullopt;
    const size_t ret = return_length(code, at + kVmmcall.size());
    if (ret == 0) return std::nullopt;
    const size_t padding = at + kVmmcall.size() + ret;
    size_t vmcall = padding;
    while (!starts_with(code, vmcall, kVmcall)) {
        const size_t length = padding_length(code, vmcall);
        if (length == 0 || vmcall + length - padding > kMaxPadding) return std::nullopt;
        vmcall += length;
    }
    if (return_length(code, vmcall + kVmcall.size()) == 0) return std::nullopt;
    return vmcall;
}

}  // namespace

std::vector<HypercallSite> find_hypercall_sites(const ElfImage& kernel) {
    std::vector<HypercallSite> found;
    unsigned pairs = 0;
    for (const LoadSegment& segment : kernel.segments()) {
        if ((segment.flags & PF_X) == 0) continue;
        const std::span<const uint8_t> code = kernel.segment_bytes(segment);
        size_t at = 0;
        while (at < code.size()) {
            const void* hit =
                ::memmem(code.data() + at, code.size() - at, kVmmcall.data(), kVmmcall.size());
            if (!hit) break;
            at = static_cast<size_t>(static_cast<const uint8_t*>(hit) - code.data());
            if (const auto vmcall = pair_at(code, at)) {
                ++pairs;
                found = {{.vaddr = segment.vaddr + at,
                          .paddr = segment.paddr + at,
                          .kind = HypercallSite::Kind::kVmmcall},
                         {.vaddr = segment.vaddr + *vmcall,
                          .paddr = segment.paddr + *vmcall,
                          .kind = HypercallSite::Kind::kVmcall}};
            }
            ++at;
        }
    }
    // Two pairs mean the shape is no longer Linux's alone (or the kernel changed): trapping
    // only one of them would lose hypercalls, so neither is trusted.
    if (pairs != 1) return {};
    return found;
}

const char* hypercall_kind_name(HypercallSite::Kind kind) {
    return kind == HypercallSite::Kind::kVmmcall ? "vmmcall" : "vmcall";
}

}  // namespace xenolith::boot
