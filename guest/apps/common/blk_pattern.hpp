// What blktest writes to disk, shared with the host tests that check a disk image
// afterwards: the per-sector data pattern, the journal record, and CRC-32 (IEEE 802.3,
// reflected, as zlib's crc32()).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace xenolith_common {

inline constexpr size_t kBlkSector = 512;

// Sector `sector` of the pattern for `seed`: its first 16 bytes say which sector and seed
// (little-endian, so a mismatch names where the data came from), the rest is xorshift.
inline void fill_sector(uint8_t* out, uint64_t sector, uint32_t seed) {
    for (unsigned i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(sector >> (8 * i));
    for (unsigned i = 0; i < 4; ++i) out[8 + i] = static_cast<uint8_t>(seed >> (8 * i));
    for (unsigned i = 12; i < 16; ++i) out[i] = 0xb1;
    uint64_t x = (sector + 1) * 0x9e3779b97f4a7c15ull ^ (static_cast<uint64_t>(seed) << 17 | 1);
    for (size_t i = 16; i < kBlkSector; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = static_cast<uint8_t>(x >> 24);
    }
}

// Journal record `seq` (one sector): "XNJRNL01", seq and seed (little-endian), then the
// pattern of sector `seq` for `seed`.
inline void journal_record(uint8_t* out, uint64_t seq, uint32_t seed) {
    fill_sector(out, seq, seed);
    const char magic[8] = {'X', 'N', 'J', 'R', 'N', 'L', '0', '1'};
    for (unsigned i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(magic[i]);
    for (unsigned i = 0; i < 8; ++i) out[8 + i] = static_cast<uint8_t>(seq >> (8 * i));
    for (unsigned i = 0; i < 4; ++i) out[16 + i] = static_cast<uint8_t>(seed >> (8 * i));
}

inline uint32_t crc32(const uint8_t* data, size_t len) {
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; ++i) {
        crc ^= data[i];
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

}  // namespace xenolith_common
