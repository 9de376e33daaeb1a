// What the gdb server needs from a debugged domain: its vCPUs as threads, their registers,
// guest memory by virtual address, breakpoints and run control. The introspection core
// implements it; gdb_server.hpp speaks the GDB remote protocol on top of it.
//
// Threading: every call comes from the server's thread. The target is stopped (every vCPU
// paused) from construction until resume(), and again from the moment wait() returns: the
// server runs gdb's all-stop mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace xenolith::vmi::gdb {

// The registers gdb sees (registers.hpp gives their order on the wire). Segment selectors
// travel as 32 bits; fs_base and gs_base are the hidden bases (MSR_FS_BASE, MSR_GS_BASE).
struct Registers {
    uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0, rsp = 0;
    uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
    uint64_t rip = 0, eflags = 0;
    uint64_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0;
    uint64_t fs_base = 0, gs_base = 0;
};

// One entry of a resume request. `thread` 0 is the default action: it applies to every
// thread that no other entry names. Threads covered by no entry stay stopped. The server
// names each thread at most once and puts the default, if any, last.
struct ResumeAction {
    enum class Kind { Continue, Step };
    Kind kind = Kind::Continue;
    uint32_t thread = 0;
};

struct StopReason {
    enum class Kind {
        Signal,  // a thread stopped: SIGTRAP (5) after a breakpoint or step, SIGINT (2) after
                 // Ctrl-C
        Exited,  // the domain shut down (exit_code is reported to gdb)
        Killed,  // the domain was destroyed
    };
    Kind kind = Kind::Signal;
    int signal = 5;
    uint32_t thread = 1;  // the thread that stopped; gdb makes it current
    int exit_code = 0;
    // The thread executed an int3 that insert_sw_breakpoint() placed. Its RIP must then be
    // the breakpoint's address (as KVM reports it), not the byte after: the server tells
    // gdb so ("swbreak+"), and gdb does not rewind the PC itself.
    bool sw_breakpoint = false;
    bool hw_breakpoint = false;  // a breakpoint from insert_hw_breakpoint()
};

class Target {
  public:
    virtual ~Target() = default;

    // gdb's thread ids: vCPU id + 1 (gdb reserves 0 and -1).
    virtual std::vector<uint32_t> threads() = 0;

    virtual bool read_registers(uint32_t thread, Registers& out) = 0;
    virtual bool write_registers(uint32_t thread, const Registers& in) = 0;

    // Guest-virtual addresses, translated through `thread`'s current page tables. Return how
    // many bytes were transferred: fewer than asked means the next page is not mapped.
    // Reads show the guest's own bytes, never the int3 of an inserted breakpoint, and a write
    // over a breakpoint changes the byte it hides (gdb relies on both).
    virtual size_t read_memory(uint32_t thread, uint64_t addr, std::span<uint8_t> out) = 0;
    virtual size_t write_memory(uint32_t thread, uint64_t addr, std::span<const uint8_t> in) = 0;

    // Breakpoints are domain-wide: every vCPU that reaches the address stops. The address is
    // guest-virtual, translated as the target sees fit (gdb gives no thread). A software
    // breakpoint that cannot be set gets gdb an error. Hardware ones are optional: false
    // tells gdb the platform has none (an empty reply), and gdb says so to its user.
    virtual bool insert_sw_breakpoint(uint64_t addr) = 0;
    virtual bool remove_sw_breakpoint(uint64_t addr) = 0;
    virtual bool insert_hw_breakpoint(uint64_t /*addr*/) { return false; }
    virtual bool remove_hw_breakpoint(uint64_t /*addr*/) { return false; }

    // Starts the threads as `actions` say (see ResumeAction); returns at once.
    virtual void resume(const std::vector<ResumeAction>& actions) = 0;

    // Blocks until a resumed thread stops, then stops every other thread (all-stop) and says
    // why. Calls `interrupted` at least every 100 ms while it waits; once that returns true
    // (gdb sent Ctrl-C, or gdb went away), stops everything and returns SIGINT.
    virtual StopReason wait(const std::function<bool()>& interrupted) = 0;

    // Removes every breakpoint and lets every vCPU run: gdb has finished (or vanished).
    virtual void detach() = 0;
    // Destroys the domain (gdb's `kill`).
    virtual void kill() = 0;
};

}  // namespace xenolith::vmi::gdb
