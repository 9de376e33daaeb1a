#include "hv/guest_access.hpp"

#include <algorithm>
#include <cstring>

namespace xenolith::hv {

namespace {
constexpr uint64_t kPresent = 1u << 0;
constexpr uint64_t kWritable = 1u << 1;
constexpr uint64_t kUser = 1u << 2;
constexpr uint64_t kLarge = 1u << 7;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
}  // namespace

std::optional<uint64_t> GuestAccess::translate(uint64_t va, bool write) const {
    if (mode_ == Mode::Unsupported) return std::nullopt;
    if (mode_ == Mode::Physical) {
        if (!memory_.contains(va, 1)) return std::nullopt;
        return va;
    }
    const bool pv = mode_ == Mode::PvUser;
    if (pv) {
        // Only canonical lower-half addresses: the guest kernel lives there and the upper
        // half belongs to the host side of PVM.
        if (va >> 47) return std::nullopt;
    } else {
        // 4-level paging: bits 63..47 all equal (canonical).
        const uint64_t top = va >> 47;
        if (top != 0 && top != 0x1ffff) return std::nullopt;
    }
    // CR3's low bits are flags or a PCID and bit 63 a no-flush hint: the table is the rest.
    uint64_t table = cr3_ & kAddrMask;
    for (int level = 3; level >= 0; --level) {
        unsigned shift = kPageShift + 9 * static_cast<unsigned>(level);
        uint64_t index = (va >> shift) & 511;
        auto entry = memory_.read<uint64_t>(table + index * 8);
        if (!entry) return std::nullopt;
        uint64_t e = *entry;
        if (!(e & kPresent) || (pv && !(e & kUser))) return std::nullopt;
        if (write && !(e & kWritable)) return std::nullopt;
        bool leaf = level == 0 || ((level == 1 || level == 2) && (e & kLarge));
        if (leaf) {
            uint64_t page_mask = (uint64_t{1} << shift) - 1;
            uint64_t gpa = (e & kAddrMask & ~page_mask) | (va & page_mask);
            if (!memory_.contains(gpa, 1)) return std::nullopt;
            return gpa;
        }
        table = e & kAddrMask;
    }
    return std::nullopt;
}

bool GuestAccess::copy_from(std::span<uint8_t> dst, uint64_t va) const {
    size_t done = 0;
    while (done < dst.size()) {
        uint64_t cur = va + done;
        if (cur < va) return false;  // wrapped
        auto gpa = translate(cur, false);
        if (!gpa) return false;
        size_t chunk = std::min<uint64_t>(dst.size() - done, kPageSize - (cur & (kPageSize - 1)));
        auto src = memory_.span(*gpa, chunk);
        if (src.empty()) return false;
        std::memcpy(dst.data() + done, src.data(), chunk);
        done += chunk;
    }
    return true;
}

bool GuestAccess::copy_to(uint64_t va, std::span<const uint8_t> src) const {
    size_t done = 0;
    while (done < src.size()) {
        uint64_t cur = va + done;
        if (cur < va) return false;
        auto gpa = translate(cur, true);
        if (!gpa) return false;
        size_t chunk = std::min<uint64_t>(src.size() - done, kPageSize - (cur & (kPageSize - 1)));
        auto dst = memory_.span(*gpa, chunk);
        if (dst.empty()) return false;
        std::memcpy(dst.data(), src.data() + done, chunk);
        memory_.mark_written(*gpa, chunk);
        done += chunk;
    }
    return true;
}

}  // namespace xenolith::hv
