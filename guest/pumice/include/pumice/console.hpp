// The console: the Xen PV console ring when the domain builder provides one
// (start_info.console.domU), else HYPERVISOR_console_io. Output is buffered per vCPU and
// written a whole line at a time, so lines from different vCPUs never interleave.
// Panics and failed assertions always go out through console_io (the emergency console).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace pumice::console {

void write(const char* text, size_t len);
void write(const char* text);
// Writes out this vCPU's partial line, if any.
void flush();

// Reads up to `len` bytes of console input without blocking; returns the count (0: none)
// or a negative Xen errno.
long read(char* buf, size_t len);
// Like read(), but waits for at least one byte. Threads only (not event handlers).
long read_blocking(char* buf, size_t len);
// Waits for one line of input and stores it in buf without its '\n' (nor a '\r' before it),
// NUL-terminated; returns its length or a negative Xen errno. A line longer than size - 1
// bytes comes back in pieces. Threads only (not event handlers).
long getline(char* buf, size_t size);

// Whether output and input go through the console ring (else through console_io).
bool using_ring();

// Waits, for at most timeout_ns, until the backend has consumed everything written to the
// ring; true when it has (or there is no ring). Does not flush partial lines.
bool drain(uint64_t timeout_ns);
// From now on all output of every vCPU goes through console_io, after the ring has been
// drained (for a bounded time) so that what came before appears first; then flushes this
// vCPU's partial line. panic() and failed assertions call it.
void emergency();

// Boot: connects the ring from start_info.console.domU, if any (called by pumice_start).
void init();

}  // namespace pumice::console
