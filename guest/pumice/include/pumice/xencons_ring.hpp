// The guest (frontend) side of the Xen console ring, `struct xencons_interface` from
// <xen/io/console.h>: Pumice produces `out` and consumes `in`; the backend does the rest.
//
// Header-only and freestanding-safe (no Pumice headers, no library calls), so the host unit
// tests (tests/unit/guest/xencons_ring_test.cpp) run exactly this code.
//
// Indices are free-running 32-bit counters (wrap-around is expected and harmless); a slot is
// MASK_XENCONS_IDX(index, ring). Each index has one writer: out_prod and in_cons are ours,
// out_cons and in_prod the backend's. We read the backend's index with acquire semantics
// (its ring bytes are visible once its index is) and publish ours with release semantics
// (our bytes, or our reads of its bytes, are complete before the index moves).
// prod - cons larger than the ring means the indices are corrupt.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <xen/io/console.h>

namespace pumice::xencons {

inline constexpr size_t kOutSize = sizeof(xencons_interface::out);
inline constexpr size_t kInSize = sizeof(xencons_interface::in);
static_assert((kOutSize & (kOutSize - 1)) == 0 && (kInSize & (kInSize - 1)) == 0,
              "MASK_XENCONS_IDX needs power-of-two rings");

inline XENCONS_RING_IDX load_acquire(const XENCONS_RING_IDX& index) {
    return __atomic_load_n(&index, __ATOMIC_ACQUIRE);
}
inline XENCONS_RING_IDX load_own(const XENCONS_RING_IDX& index) {
    return __atomic_load_n(&index, __ATOMIC_RELAXED);
}
inline void store_release(XENCONS_RING_IDX& index, XENCONS_RING_IDX value) {
    __atomic_store_n(&index, value, __ATOMIC_RELEASE);
}

// ---- out: we produce, the backend consumes ----

// Bytes written and not yet consumed by the backend (> kOutSize when corrupt).
inline XENCONS_RING_IDX out_used(const xencons_interface& r) {
    return load_own(r.out_prod) - load_acquire(r.out_cons);
}
inline bool out_corrupt(const xencons_interface& r) {
    return out_used(r) > kOutSize;
}
// Free bytes; 0 when the indices are corrupt.
inline size_t out_space(const xencons_interface& r) {
    XENCONS_RING_IDX used = out_used(r);
    return used > kOutSize ? 0 : kOutSize - used;
}
// Everything written has been consumed (or the ring is corrupt: nothing will be).
inline bool out_drained(const xencons_interface& r) {
    XENCONS_RING_IDX used = out_used(r);
    return used == 0 || used > kOutSize;
}

// Copies as much of data[0, len) as fits and publishes it; returns the count (0 when full
// or corrupt). The caller notifies the backend when it returns more than 0.
inline size_t out_write(xencons_interface& r, const char* data, size_t len) {
    XENCONS_RING_IDX cons = load_acquire(r.out_cons);  // slots before cons are free again
    XENCONS_RING_IDX prod = load_own(r.out_prod);
    XENCONS_RING_IDX used = prod - cons;
    if (used > kOutSize) return 0;
    size_t n = kOutSize - used;
    if (n > len) n = len;
    for (size_t i = 0; i < n; ++i)
        r.out[MASK_XENCONS_IDX(prod + static_cast<XENCONS_RING_IDX>(i), r.out)] = data[i];
    store_release(r.out_prod, prod + static_cast<XENCONS_RING_IDX>(n));  // bytes, then index
    return n;
}

// ---- in: the backend produces, we consume ----

// Bytes available to read (> kInSize when corrupt).
inline XENCONS_RING_IDX in_used(const xencons_interface& r) {
    return load_acquire(r.in_prod) - load_own(r.in_cons);
}
inline bool in_corrupt(const xencons_interface& r) {
    return in_used(r) > kInSize;
}
// Bytes available to read; 0 when corrupt.
inline size_t in_available(const xencons_interface& r) {
    XENCONS_RING_IDX used = in_used(r);
    return used > kInSize ? 0 : used;
}

// Consumes up to `max` bytes into buf and returns the count. Corrupt indices make it skip
// to in_prod (the garbage is dropped) and return 0. The caller notifies the backend when it
// returns more than 0: the backend may be waiting for room.
inline size_t in_read(xencons_interface& r, char* buf, size_t max) {
    XENCONS_RING_IDX prod = load_acquire(r.in_prod);  // bytes before prod are readable
    XENCONS_RING_IDX cons = load_own(r.in_cons);
    XENCONS_RING_IDX used = prod - cons;
    if (used > kInSize) {
        store_release(r.in_cons, prod);
        return 0;
    }
    size_t n = used < max ? used : max;
    for (size_t i = 0; i < n; ++i)
        buf[i] = r.in[MASK_XENCONS_IDX(cons + static_cast<XENCONS_RING_IDX>(i), r.in)];
    store_release(r.in_cons, cons + static_cast<XENCONS_RING_IDX>(n));  // reads, then index
    return n;
}

// How many bytes the next line takes without consuming anything: through the first '\n'
// if one is among the first `max` available bytes, else `max` once that many are there, else
// everything once the ring is full (a line longer than the ring is returned in pieces).
// 0 means "wait for more input".
inline size_t in_line_length(const xencons_interface& r, size_t max) {
    XENCONS_RING_IDX prod = load_acquire(r.in_prod);
    XENCONS_RING_IDX cons = load_own(r.in_cons);
    XENCONS_RING_IDX used = prod - cons;
    if (used > kInSize || max == 0) return 0;
    size_t limit = used < max ? used : max;
    for (size_t i = 0; i < limit; ++i) {
        if (r.in[MASK_XENCONS_IDX(cons + static_cast<XENCONS_RING_IDX>(i), r.in)] == '\n')
            return i + 1;
    }
    if (used >= max || used == kInSize) return limit;
    return 0;
}

}  // namespace pumice::xencons
