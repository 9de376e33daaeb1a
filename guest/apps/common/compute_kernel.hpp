// The compute kernel shared by the guest `bench` app and the host benchmark, so the same
// integer work can be timed inside a guest and natively. Header-only, needs <stdint.h>
// only, deterministic: compute_kernel(n) is the same number everywhere.
#pragma once

#include <stdint.h>

// n rounds of xorshift64 feeding a multiply-mix accumulator.
static inline uint64_t compute_kernel(uint64_t n) {
    uint64_t x = 0x9e3779b97f4a7c15ull;  // xorshift state (never zero)
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        acc = (acc ^ x) * 0xbf58476d1ce4e5b9ull;
        acc ^= acc >> 31;
    }
    return acc;
}
