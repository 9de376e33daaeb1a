// The hypervisor console: HYPERVISOR_console_io. Output is buffered per vCPU and written
// a whole line per hypercall, so lines from different vCPUs never interleave.
#pragma once

#include <stddef.h>

namespace pumice::console {

void write(const char* text, size_t len);
void write(const char* text);
// Writes out this vCPU's partial line, if any.
void flush();
// Reads up to `len` bytes of console input without blocking; returns the count or a
// negative Xen errno.
long read(char* buf, size_t len);

}  // namespace pumice::console
