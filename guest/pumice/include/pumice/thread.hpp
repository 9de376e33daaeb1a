// Cooperative threads. Each vCPU has its own run queue; a thread stays on the vCPU it was
// created for and runs until it yields, sleeps, blocks or exits. When nothing is runnable
// the vCPU's idle loop arms the timer for the earliest sleeper and blocks in the
// hypervisor (SCHEDOP_block).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace pumice {

class Thread;
using ThreadFn = void (*)(void* arg);

inline constexpr size_t kDefaultStackSize = 32 * 1024;
inline constexpr unsigned kCurrentCpu = ~0u;

// Creates a runnable thread on vCPU `cpu` (default: the caller's). Returns nullptr when
// out of memory or if that vCPU is not online. Call join() to reclaim it.
Thread* thread_create(const char* name, ThreadFn fn, void* arg, unsigned cpu = kCurrentCpu,
                      size_t stack_size = kDefaultStackSize);
// Waits for `thread` to exit, then frees it.
void thread_join(Thread* thread);
[[noreturn]] void thread_exit();

Thread* current_thread();
const char* thread_name(const Thread* thread);

void yield();
// Sleeps until system time (time::now_ns()) reaches deadline_ns.
void sleep_until(uint64_t deadline_ns);
void sleep_ns(uint64_t ns);

namespace sched {
// Sets up the calling vCPU's scheduler with the current context as its idle thread.
void init_cpu();
// Never returns: the vCPU's idle loop.
[[noreturn]] void idle_loop();
// Makes a blocked thread runnable (from any vCPU or event handler).
void wake(Thread* thread);
}  // namespace sched

}  // namespace pumice
