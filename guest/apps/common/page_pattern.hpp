// The grantcopy app's page pattern and checksum, shared with the host tests.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace xenolith_common {

// A deterministic, position-dependent byte pattern (seeded, so two runs can differ).
inline void fill_pattern(uint8_t* page, size_t len, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        page[i] = static_cast<uint8_t>(x ^ i);
    }
}

// 32-bit FNV-1a.
inline uint32_t checksum(const uint8_t* data, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; ++i) {
        h ^= data[i];
        h *= 16777619u;
    }
    return h;
}

}  // namespace xenolith_common
