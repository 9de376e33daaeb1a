// Assertions and panic: report on the console, then SCHEDOP_shutdown(SHUTDOWN_crash).
// PUMICE_ASSERT is always on: guests are small and a wrong state should stop them loudly.
#pragma once

namespace pumice {

[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void assert_failed(const char* file, int line, const char* expr);

}  // namespace pumice

#define PUMICE_ASSERT(expr) \
    ((expr) ? static_cast<void>(0) : ::pumice::assert_failed(__FILE__, __LINE__, #expr))
