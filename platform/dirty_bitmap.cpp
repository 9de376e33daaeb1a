#include "platform/dirty_bitmap.hpp"

#include <string>

#include "base/error.hpp"

namespace xenolith::platform {

namespace {

constexpr uint64_t kBits = 64;

void check_range(std::span<const uint64_t> bitmap, uint64_t first, uint64_t count) {
    if (first + count < first || first + count > bitmap.size() * kBits)
        throw Error("pages " + std::to_string(first) + "+" + std::to_string(count) +
                    " lie beyond the dirty bitmap's " + std::to_string(bitmap.size() * kBits));
}

}  // namespace

void check_dirty_bitmap(std::span<const uint64_t> bitmap, uint64_t pages) {
    if (bitmap.size() < (pages + kBits - 1) / kBits)
        throw Error("a dirty bitmap of " + std::to_string(bitmap.size()) +
                    " words is too small for " + std::to_string(pages) + " pages of RAM");
}

void mark_dirty(std::span<uint64_t> bitmap, uint64_t first, uint64_t count) {
    check_range(bitmap, first, count);
    uint64_t p = first;
    const uint64_t end = first + count;
    // Partial words bit by bit, whole words at once: a large run costs a word per 64 pages.
    for (; p < end && p % kBits != 0; ++p) bitmap[p / kBits] |= uint64_t{1} << (p % kBits);
    for (; p + kBits <= end; p += kBits) bitmap[p / kBits] = ~uint64_t{0};
    for (; p < end; ++p) bitmap[p / kBits] |= uint64_t{1} << (p % kBits);
}

void or_dirty(std::span<uint64_t> bitmap, std::span<const uint64_t> bits, uint64_t first,
              uint64_t count) {
    check_range(bitmap, first, count);
    if (bits.size() * kBits < count) throw Error("a slot's dirty log is shorter than the slot");
    const uint64_t words = (count + kBits - 1) / kBits;
    // Bits past `count` in the last word are the kernel's padding: masked off.
    const uint64_t tail = count % kBits ? (uint64_t{1} << (count % kBits)) - 1 : ~uint64_t{0};
    const uint64_t shift = first % kBits;
    for (uint64_t i = 0; i < words; ++i) {
        const uint64_t w = i + 1 == words ? bits[i] & tail : bits[i];
        if (w == 0) continue;
        const uint64_t at = first / kBits + i;
        bitmap[at] |= w << shift;
        if (shift != 0 && (w >> (kBits - shift)) != 0) bitmap[at + 1] |= w >> (kBits - shift);
    }
}

}  // namespace xenolith::platform
