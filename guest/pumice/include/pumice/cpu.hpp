// Per-vCPU data, reached through the GS base (set with wrgsbase on each vCPU).
// Standard layout: src/asm_constants.cpp exports field offsets to the assembly.
#pragma once

#include <pumice/spinlock.hpp>
#include <pumice/xen.hpp>

namespace pumice {

class Thread;

// Capped at the vCPUs whose vcpu_info lives in shared_info.
inline constexpr unsigned kMaxCpus = XEN_LEGACY_MAX_VCPUS;
inline constexpr size_t kLineBufferSize = 256;

struct Cpu {
    Cpu* self;        // offset 0: `mov %gs:0` yields this Cpu
    vcpu_info* vcpu;  // this vCPU's vcpu_info (upcall mask/pending, pvclock)
    unsigned id;
    bool online;

    // Scheduler state (src/sched.cpp), guarded by run_lock.
    SpinLock run_lock;
    Thread* current;
    Thread* idle;
    Thread* run_head;  // runnable threads, FIFO
    Thread* run_tail;
    Thread* sleepers;          // threads in sleep_until(), unsorted
    Thread* dead;              // exited thread to finish once off its stack
    evtchn_port_t timer_port;  // VIRQ_TIMER bound to this vCPU
    uint64_t timer_armed_ns;   // the one-shot timer's deadline as last armed (time::arm_timer)
    evtchn_port_t ipi_port;    // kicks this vCPU out of SCHEDOP_block
    bool has_ipi;

    // Console line buffer (src/console.cpp), used with events masked.
    size_t line_len;
    char line[kLineBufferSize];
};

extern Cpu g_cpus[kMaxCpus];

inline Cpu& this_cpu() {
    Cpu* cpu;
    asm volatile("mov %%gs:0, %0" : "=r"(cpu));
    return *cpu;
}

// Points the GS base of the calling vCPU at cpu.
inline void set_this_cpu(Cpu& cpu) {
    asm volatile("wrgsbase %0" ::"r"(&cpu) : "memory");
}

}  // namespace pumice
