// Guest RAM filled from the host with a mix that makes a domain stream's zero-page skipping
// and compression neither free nor useless (the "state" figures, bench/state_bench.hpp).
// Page i of the region, by i % 4:
//   0     zeros: the stream carries them as a flag (8 bytes a page);
//   1     pseudo-random bytes (xorshift64*): incompressible, zstd stores them as they are;
//   2, 3  text: log lines ("2026-12-07T14:03:27.118Z INFO  worker-3 GET /api/v1/items/48213
//         200 1834 B 12 ms") from a small vocabulary with pseudo-random numbers, which zstd's
//         fast level shrinks several times, as it would a guest's page cache or heap.
// Deterministic for a given seed, so that every platform saves the same bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace xenolith::bench {

struct RamMix {
    uint64_t zero_pages = 0;
    uint64_t random_pages = 0;
    uint64_t text_pages = 0;
};

// Fills `region` (a whole number of 4 KiB pages) with the mix.
RamMix fill_ram_mix(std::span<uint8_t> region, uint64_t seed);

// One sentence for the JSON document and the docs.
std::string ram_mix_description();

}  // namespace xenolith::bench
