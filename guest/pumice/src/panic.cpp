// Ending the domain: normal exit with a status, panic and failed assertions as a crash.
#include <pumice/pumice.hpp>

namespace pumice {
namespace {

// How long exit() waits for the console backend to take the last lines (microseconds with
// a live backend; the bound only matters when nobody reads the ring).
constexpr uint64_t kExitDrainNs = 250 * time::kNsPerMs;

[[noreturn]] void shutdown_now(unsigned reason) {
    console::flush();
    sched_shutdown_t request{};
    request.reason = reason;
    hv::sched_op(SCHEDOP_shutdown, &request);
    // Not reached on a working hypervisor; if it is, sleep rather than run on.
    for (;;) hv::sched_op(SCHEDOP_block, nullptr);
}

}  // namespace

void exit(int code) {
    shutdown(SHUTDOWN_poweroff, code);
}

void shutdown(unsigned reason, int code) {
    unsigned status = static_cast<unsigned>(code);
    // Xen proper answers -ENOSYS; the status is a Xenolith extension, so ignore errors.
    hv::sched_op(XENOLITH_SCHEDOP_exit_status, &status);
    console::flush();
    console::drain(kExitDrainNs);
    shutdown_now(reason);
}

// Crash reports go through console_io (console::emergency()): a broken ring cannot hide them.
void panic(const char* fmt, ...) {
    console::emergency();
    printf("PANIC: ");
    va_list args;
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    printf("\n");
    shutdown_now(SHUTDOWN_crash);
}

void assert_failed(const char* file, int line, const char* expr) {
    console::emergency();
    printf("ASSERTION FAILED at %s:%d: %s\n", file, line, expr);
    shutdown_now(SHUTDOWN_crash);
}

}  // namespace pumice
