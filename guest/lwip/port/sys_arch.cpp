// lwIP's platform functions for Pumice with NO_SYS=1: the millisecond clock, diagnostics,
// assertions, random numbers, the core-lock check, and atoi (the one C library function lwIP
// uses that Pumice lacks).
#include <pumice/assert.hpp>
#include <pumice/net.hpp>
#include <pumice/print.hpp>
#include <pumice/smp.hpp>
#include <pumice/time.hpp>

#include "lwip/arch.h"
#include "lwip/sys.h"

using namespace pumice;

extern "C" {

// Milliseconds of system time; lwIP's timeouts are written to survive its 49-day wrap.
u32_t sys_now(void) {
    return static_cast<u32_t>(time::now_ns() / time::kNsPerMs);
}

void pumice_lwip_diag(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
}

void pumice_lwip_assert(const char* message, const char* file, int line) {
    panic("lwIP assertion \"%s\" failed at %s:%d", message, file, line);
}

void pumice_lwip_assert_core_locked(void) {
    unsigned cpu = net::Stack::cpu();
    if (cpu == net::Stack::kNoCpu) panic("lwIP called before net::Stack::start()");
    if (cpu != smp::current_id()) {
        panic("lwIP called on vCPU %u: only the network stack's vCPU (%u) may call it",
              smp::current_id(), cpu);
    }
}

// xorshift64*, seeded from the TSC on first use: unpredictable enough for ephemeral ports
// and DHCP transaction ids (not for cryptography). Only the stack's vCPU calls it.
unsigned int pumice_lwip_rand(void) {
    static uint64_t state;
    if (state == 0) state = time::rdtsc() | 1;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return static_cast<unsigned int>((state * 0x2545F4914F6CDD1DULL) >> 32);
}

int atoi(const char* s) {
    bool negative = *s == '-';
    if (*s == '-' || *s == '+') ++s;
    int value = 0;
    for (; *s >= '0' && *s <= '9'; ++s) value = value * 10 + (*s - '0');
    return negative ? -value : value;
}
}
