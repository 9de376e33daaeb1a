// The per-vCPU cooperative scheduler: FIFO run queue, an unsorted sleeper list, and an
// idle loop that sleeps in the hypervisor. Each vCPU's run_lock guards its queues and the
// state of its threads, because wakes come from other vCPUs and from event handlers.
#include "thread_impl.hpp"

#include <pumice/pumice.hpp>

#include <new>

extern "C" void pumice_switch_context(uint64_t* save_rsp, uint64_t new_rsp);
extern "C" [[noreturn]] void pumice_thread_main();

namespace pumice {
namespace {

constexpr uint64_t kNoDeadline = ~uint64_t{0};
// Only if the hypervisor cannot bind IPIs: how often an idle vCPU looks for cross-vCPU
// wakes it was not told about.
constexpr uint64_t kIpiFallbackPollNs = time::kNsPerMs;

void push_back_locked(Cpu& cpu, Thread* t) {
    t->next = nullptr;
    if (cpu.run_tail)
        cpu.run_tail->next = t;
    else
        cpu.run_head = t;
    cpu.run_tail = t;
}

Thread* pop_front_locked(Cpu& cpu) {
    Thread* t = cpu.run_head;
    if (t) {
        cpu.run_head = t->next;
        if (!cpu.run_head) cpu.run_tail = nullptr;
        t->next = nullptr;
    }
    return t;
}

// Moves expired sleepers to the run queue; returns the earliest remaining deadline.
uint64_t wake_expired_locked(Cpu& cpu, uint64_t now) {
    uint64_t earliest = kNoDeadline;
    for (Thread** link = &cpu.sleepers; *link;) {
        Thread* t = *link;
        if (t->deadline <= now) {
            *link = t->next_sleeper;
            t->next_sleeper = nullptr;
            t->state = ThreadState::Runnable;
            push_back_locked(cpu, t);
        } else {
            if (t->deadline < earliest) earliest = t->deadline;
            link = &t->next_sleeper;
        }
    }
    return earliest;
}

void kick(Cpu& cpu) {
    if (&cpu != &this_cpu() && cpu.has_ipi) events::send(cpu.ipi_port);
}

void ignore_event(evtchn_port_t, void*) {}

// Runs on the thread that was switched to: finishes what the switch left behind.
void finish_switch(Cpu& cpu) {
    Thread* dead = cpu.dead;
    if (!dead) return;
    cpu.dead = nullptr;
    // Set under the joiners' lock: a joiner frees the thread only after it has seen
    // `finished` with that lock held, i.e. after we are done touching it here.
    dead->joiners.notify_all([dead] { dead->finished = true; });
}

}  // namespace

namespace sched {

void schedule() {
    Cpu& cpu = this_cpu();
    Thread* prev = cpu.current;
    cpu.run_lock.lock();
    wake_expired_locked(cpu, time::now_ns());
    if (prev->state == ThreadState::Running && prev != cpu.idle) {
        prev->state = ThreadState::Runnable;
        push_back_locked(cpu, prev);
    }
    // A thread woken from another vCPU before it got here may be queued already: then it
    // can be its own successor, which is a no-op switch.
    Thread* next = pop_front_locked(cpu);
    if (!next) next = cpu.idle;
    next->state = ThreadState::Running;
    cpu.run_lock.unlock();
    if (next == prev) return;
    cpu.current = next;
    pumice_switch_context(&prev->rsp, next->rsp);
    finish_switch(this_cpu());
}

void wake(Thread* t) {
    Cpu& cpu = *t->cpu;
    uint8_t saved = events::mask_local();
    cpu.run_lock.lock();
    bool woke = t->state == ThreadState::Blocked;
    if (woke) {
        t->state = ThreadState::Runnable;
        push_back_locked(cpu, t);
    }
    cpu.run_lock.unlock();
    if (woke) kick(cpu);
    events::restore_local(saved);
}

void init_cpu() {
    Cpu& cpu = this_cpu();
    auto* idle = new Thread;
    idle->cpu = &cpu;
    idle->state = ThreadState::Running;
    snprintf(idle->name, sizeof(idle->name), "idle%u", cpu.id);
    cpu.idle = cpu.current = idle;

    long rc = events::bind_virq(VIRQ_TIMER, cpu.id, ignore_event, nullptr);
    if (rc < 0) panic("vCPU %u: cannot bind VIRQ_TIMER: %ld", cpu.id, rc);
    cpu.timer_port = static_cast<evtchn_port_t>(rc);
    rc = events::bind_ipi(cpu.id, ignore_event, nullptr);
    cpu.has_ipi = rc >= 0;
    if (cpu.has_ipi) cpu.ipi_port = static_cast<evtchn_port_t>(rc);
}

void idle_loop() {
    for (;;) {
        events::mask_local();
        Cpu& cpu = this_cpu();
        cpu.run_lock.lock();
        uint64_t now = time::now_ns();
        uint64_t deadline = wake_expired_locked(cpu, now);
        bool runnable = cpu.run_head != nullptr;
        cpu.run_lock.unlock();
        if (runnable) {
            schedule();
            continue;
        }
        if (!cpu.has_ipi && smp::online() > 1 && deadline > now + kIpiFallbackPollNs) {
            deadline = now + kIpiFallbackPollNs;
        }
        if (deadline != kNoDeadline) time::arm_timer_by(deadline, now);
        // Unmasks events and sleeps until one is pending (the timer, an IPI, ...); the
        // upcall runs on the way out, then we look at the queues again.
        hv::sched_op(SCHEDOP_block, nullptr);
    }
}

}  // namespace sched

Thread* thread_create(const char* name, ThreadFn fn, void* arg, unsigned cpu_id,
                      size_t stack_size) {
    if (cpu_id == kCurrentCpu) cpu_id = this_cpu().id;
    if (cpu_id >= kMaxCpus || !g_cpus[cpu_id].online) return nullptr;
    auto* t = new (std::nothrow) Thread;
    if (!t) return nullptr;
    t->stack_pages = (stack_size + mem::kPageSize - 1) / mem::kPageSize;
    t->stack = mem::alloc_pages(t->stack_pages);
    if (!t->stack) {
        delete t;
        return nullptr;
    }
    t->cpu = &g_cpus[cpu_id];
    t->fn = fn;
    t->arg = arg;
    strlcpy(t->name, name ? name : "thread", sizeof(t->name));

    // The first switch to the thread pops six callee-saved registers and "returns" into
    // pumice_thread_main with RSP = top - 8, as if it had been called (SysV alignment).
    auto* top =
        reinterpret_cast<uint64_t*>(static_cast<char*>(t->stack) + t->stack_pages * mem::kPageSize);
    top[-1] = 0;  // fake return address: ends backtraces
    top[-2] = reinterpret_cast<uint64_t>(&pumice_thread_main);
    for (int i = 3; i <= 8; ++i) top[-i] = 0;
    t->rsp = reinterpret_cast<uint64_t>(&top[-8]);

    sched::wake(t);
    return t;
}

void thread_join(Thread* t) {
    PUMICE_ASSERT(t != current_thread());
    t->joiners.wait_until([t] { return t->finished; });
    mem::free_pages(t->stack, t->stack_pages);
    delete t;
}

void thread_exit() {
    events::mask_local();
    Cpu& cpu = this_cpu();
    Thread* t = cpu.current;
    PUMICE_ASSERT(t != cpu.idle);
    cpu.run_lock.lock();
    t->state = ThreadState::Exited;
    cpu.run_lock.unlock();
    cpu.dead = t;
    sched::schedule();
    panic("exited thread %s was scheduled again", t->name);
}

Thread* current_thread() {
    return this_cpu().current;
}
const char* thread_name(const Thread* t) {
    return t->name;
}

void yield() {
    uint8_t saved = events::mask_local();
    sched::schedule();
    events::restore_local(saved);
}

void sleep_until(uint64_t deadline_ns) {
    uint8_t saved = events::mask_local();
    Cpu& cpu = this_cpu();
    Thread* t = cpu.current;
    if (t == cpu.idle) panic("the idle context cannot sleep");
    cpu.run_lock.lock();
    t->deadline = deadline_ns;
    t->next_sleeper = cpu.sleepers;
    cpu.sleepers = t;
    t->state = ThreadState::Blocked;
    cpu.run_lock.unlock();
    sched::schedule();
    events::restore_local(saved);
}

void sleep_ns(uint64_t ns) {
    sleep_until(time::now_ns() + ns);
}

}  // namespace pumice

using namespace pumice;

// Where a new thread starts (see thread_create): events are still masked from the switch.
extern "C" [[noreturn]] void pumice_thread_main() {
    Cpu& cpu = this_cpu();
    finish_switch(cpu);
    events::restore_local(0);
    Thread* t = cpu.current;
    t->fn(t->arg);
    thread_exit();
}
