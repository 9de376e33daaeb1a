// The thread record and the scheduler internals shared by sched.cpp and waitqueue.cpp.
#pragma once

#include <pumice/cpu.hpp>
#include <pumice/thread.hpp>
#include <pumice/waitqueue.hpp>

namespace pumice {

enum class ThreadState : uint8_t {
    Runnable,  // in its vCPU's run queue
    Running,   // its vCPU's current thread
    Blocked,   // in a wait queue or the sleeper list
    Exited,    // called thread_exit(); its stack is still in use until the switch away
};

class Thread {
  public:
    uint64_t rsp = 0;    // saved by pumice_switch_context
    Cpu* cpu = nullptr;  // the vCPU it runs on, for life
    ThreadState state = ThreadState::Blocked;
    ThreadFn fn = nullptr;
    void* arg = nullptr;
    void* stack = nullptr;  // nullptr for a vCPU's idle (boot) context
    size_t stack_pages = 0;
    uint64_t deadline = 0;   // sleep_until()
    Thread* next = nullptr;  // run queue or wait queue link (never both)
    Thread* next_sleeper = nullptr;
    bool finished = false;  // off its stack for good: join() may free it
    WaitQueue joiners;
    char name[24] = {};
};

namespace sched {
// Switches to the next runnable thread of this vCPU (or its idle loop). The caller has
// masked events and put the current thread where it belongs (state, queues).
void schedule();
}  // namespace sched

}  // namespace pumice
