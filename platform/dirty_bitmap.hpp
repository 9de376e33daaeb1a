// The page bitmap of DirtyLog::collect() (platform.hpp): bit p % 64 of word p / 64 for RAM
// page p. What each platform's mechanism reports is ORed in through these.
#pragma once

#include <cstdint>
#include <span>

namespace xenolith::platform {

// Throws Error unless `bitmap` has a bit for each of `pages` pages. Checked before a
// mechanism is asked, since asking also forgets what it reported.
void check_dirty_bitmap(std::span<const uint64_t> bitmap, uint64_t pages);

// Sets the bits of pages [first, first + count).
void mark_dirty(std::span<uint64_t> bitmap, uint64_t first, uint64_t count);

// ORs in `bits` (bit i: page first + i, `count` of them), as KVM returns a memory slot's
// log: word-wise where `first` is a multiple of 64, else shifted.
void or_dirty(std::span<uint64_t> bitmap, std::span<const uint64_t> bits, uint64_t first,
              uint64_t count);

}  // namespace xenolith::platform
