// The introspection commands of the control API (docs/control-api.md, "Introspection") as
// a C++ client: one connection to xenolithd that is one domain's debugger from attach()
// until it is destroyed (the daemon detaches when the connection closes). `xn debug` uses
// it; so can any tool. Every failure the daemon reports is an api::ApiError.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "toolstack/api/protocol.hpp"

namespace xenolith::debug {

// General registers by name ("rax", ..., "rip", "rflags") and, read-only, "cr0", "cr2",
// "cr3", "cr4", "efer".
using RegisterSet = std::map<std::string, uint64_t>;

struct StopEvent {
    uint32_t vcpu = 0;
    std::string reason;  // "breakpoint", "step", "write" or "hypercall"
    uint64_t rip = 0;
    uint64_t address = 0;    // "write": the guest-physical address the instruction at rip writes
    uint64_t hypercall = 0;  // "hypercall": the call's number (its arguments: registers)
    std::string hypercall_name;  // and Xen's name for it
};

// What debug_wait says: an event, nothing yet, or that the domain ended.
struct WaitResult {
    std::optional<StopEvent> event;
    std::optional<std::string> ended;  // "shutdown", "crashed", "dying"
    std::optional<uint32_t> exit_status;
};

// Crash: the domain crashes (a write the vCPU stopped at is not made).
enum class Action { Continue, Step, Stay, Crash };

class DebugClient {
  public:
    explicit DebugClient(std::unique_ptr<api::Client> connection);

    // Becomes `domain`'s debugger (a name or a domid); returns its number of vCPUs.
    uint32_t attach(const std::string& domain);
    void detach();
    uint32_t domid() const { return domid_; }
    // After attach(): what this host's platform cannot do for a debugger ("breakpoints",
    // "single_step"), each with the reason (debug_attach's `unavailable`).
    const std::map<std::string, std::string>& unavailable() const { return unavailable_; }

    void stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
    void resume(const std::map<uint32_t, Action>& actions, Action others);
    WaitResult wait(std::chrono::milliseconds timeout);

    RegisterSet registers(uint32_t vcpu);
    // Only the registers named in `changes`.
    void set_registers(uint32_t vcpu, const RegisterSet& changes);
    // Guest-virtual through `vcpu`'s page tables, or guest-physical with `physical`.
    std::vector<uint8_t> read(uint32_t vcpu, uint64_t address, size_t length,
                              bool physical = false);
    size_t write(uint32_t vcpu, uint64_t address, std::span<const uint8_t> bytes,
                 bool physical = false);
    void insert_breakpoint(uint32_t vcpu, uint64_t address);
    void remove_breakpoint(uint64_t address);
    // Page-write events for the pages [address, address+length) touches (guest-virtual
    // through `vcpu`'s page tables, or guest-physical); every vCPU must be stopped. Return
    // how many pages are watched now.
    size_t protect(uint32_t vcpu, uint64_t address, uint64_t length, bool physical = false);
    // Every vCPU stops before each hypercall ("hypercall" events), or no longer.
    void hypercall_stops(bool on);
    size_t unprotect(uint32_t vcpu, uint64_t address, uint64_t length, bool physical = false);

    // The connection itself, for other commands on it (destroy, info).
    api::Client& connection() { return *client_; }

  private:
    // debug_protect / debug_unprotect: the pages touched by [address, address+length).
    size_t watch(const char* command, uint32_t vcpu, uint64_t address, uint64_t length,
                 bool physical);
    std::unique_ptr<api::Client> client_;
    uint32_t domid_ = 0;
    std::map<std::string, std::string> unavailable_;
};

}  // namespace xenolith::debug
