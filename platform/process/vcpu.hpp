// A process-platform vCPU: one thread of the stub, driven with ptrace by the one host
// thread that boots and runs it (ptrace ties a tracee to its tracer thread).
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/user.h>

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "platform/platform.hpp"
#include "platform/process/stub_process.hpp"

namespace xenolith::platform::process {

class ProcessVcpu final : public Vcpu {
  public:
    ProcessVcpu(std::shared_ptr<StubProcess> stub, uint32_t id);

    void boot(const BootContext& ctx) override;
    Exit run() override;
    void request_exit() noexcept override;
    void clear_exit_request() noexcept override;
    // The signal already ended run()'s waitpid (EINTR); run() kicks the stub thread itself.
    void note_exit_request() noexcept override { exit_requested_.store(true); }
    // Read from the stopped thread when first asked for after a stop: an interrupted run
    // that the hypervisor only glances at costs no PTRACE_GETREGS.
    Registers& regs() override {
        if (!regs_fresh_) fetch_regs();
        return regs_;
    }
    void mark_regs_dirty() override { dirty_ = true; }
    ControlRegisters control_registers() override;
    ExtendedState extended_state() override;
    void follow_host_cpu(unsigned cpu) override;
    bool set_single_step(bool on) override {
        single_step_ = on;
        return true;
    }
    // ptrace gives both everywhere: int3 is SIGTRAP, a step is PTRACE_SINGLESTEP.
    DebugSupport debug_support() const override { return {}; }
    void complete_write(bool perform) override;

  private:
    void attach();
    // The stub thread's XSAVE area (NT_X86_XSTATE), or its FXSAVE area where the host has
    // no XSAVE; and back.
    std::vector<uint8_t> read_fpu_area() const;
    void write_fpu_area(std::vector<uint8_t>& area) const;
    void check_tracer_thread() const;
    void fetch_regs();
    void store_regs();
    Exit resume_until_exit();
    std::optional<Exit> step_through_write(bool& kicked);
    int wait_for_stop(bool& kicked);
    std::optional<Exit> decode_stop(int status, bool kicked);
    std::optional<Exit> decode_fault(const siginfo_t& si);
    std::optional<Exit> port_exit();
    bool emulate_fsgsbase_insn();
    const uint8_t* guest_code(size_t& avail) const;

    std::shared_ptr<StubProcess> stub_;
    const uint32_t id_;
    const pid_t pid_;
    const pid_t tid_;
    pid_t tracer_ = 0;  // the host thread that seized tid_
    user_regs_struct raw_{};
    Registers regs_;
    bool dirty_ = false;
    bool regs_fresh_ = false;   // regs_ and raw_ hold the stopped thread's registers
    bool single_step_ = false;  // resume with PTRACE_SINGLESTEP
    uint64_t cr3_ = 0, cr2_ = 0;
    // The watched address of the last DebugExit::Write, while it waits for an answer, and
    // whether the next run lets it write.
    std::optional<uint64_t> write_at_;
    bool write_allowed_ = false;
    std::atomic<bool> exit_requested_{false};
    std::atomic<bool> in_run_{false};
};

}  // namespace xenolith::platform::process
