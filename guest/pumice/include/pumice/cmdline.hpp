// The command line (start_info.cmd_line, from `extra`/`cmdline` in the domain config),
// parsed once into space-separated key=value pairs. A bare word is a key with value "".
#pragma once

#include <stdint.h>

namespace pumice::cmdline {

void init(const char* raw, unsigned long max_len);
const char* raw();

bool has(const char* key);
const char* get_str(const char* key, const char* fallback);
// Decimal or 0x-prefixed hex; `fallback` if absent or malformed.
uint64_t get_u64(const char* key, uint64_t fallback);
int64_t get_i64(const char* key, int64_t fallback);
// A decimal with an optional fraction, multiplied by `scale`: get_scaled("seconds", 1000,
// 1000) reads "seconds=1.5" as 1500.
uint64_t get_scaled(const char* key, uint64_t scale, uint64_t fallback);

}  // namespace pumice::cmdline
