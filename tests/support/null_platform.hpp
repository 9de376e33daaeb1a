// A platform whose vCPUs never run guest code: what the hypercall, event-channel, grant and
// console unit tests and the hypercall fuzzer build their domains on. They call hypercall
// handlers directly, so they need a domain's RAM, vCPU objects and notify endpoints, but no
// VM: they run on any host, under the sanitizers too. It says it can run PVH domains, so
// that the HVM hypercalls can be tested on it as well.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "platform/eventfd_endpoint.hpp"
#include "platform/platform.hpp"

namespace xenolith::testing {

class NullVcpu final : public platform::Vcpu {
  public:
    void boot(const platform::BootContext& ctx) override { regs_ = ctx.regs; }
    // A started domain's vCPU waits here until it is asked to leave, as a guest that
    // spins would.
    platform::Exit run() override {
        while (!exit_requested_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return {platform::Exit::Kind::Interrupted};
    }
    void request_exit() noexcept override { exit_requested_.store(true); }
    void note_exit_request() noexcept override { exit_requested_.store(true); }
    void clear_exit_request() noexcept override { exit_requested_.store(false); }
    platform::Registers& regs() override { return regs_; }
    void mark_regs_dirty() override {}
    platform::ControlRegisters control_registers() override { return {}; }
    platform::ExtendedState extended_state() override { return {}; }

  private:
    platform::Registers regs_;
    std::atomic<bool> exit_requested_{false};
};

class NullVm final : public platform::Vm {
  public:
    std::unique_ptr<platform::Vcpu> create_vcpu(uint32_t) override {
        return std::make_unique<NullVcpu>();
    }
    std::unique_ptr<platform::NotifyEndpoint> notify_endpoint(uint32_t) override {
        return std::make_unique<platform::EventFdEndpoint>();
    }
};

class NullPlatform final : public platform::Platform {
  public:
    const char* name() const override { return "null"; }
    bool supports_hvm() const override { return true; }
    uint32_t tsc_khz() const override { return 1'000'000; }
    uint32_t max_vcpus() const override { return 0; }
    std::unique_ptr<platform::Vm> create_vm(const platform::VmConfig&) override {
        return std::make_unique<NullVm>();
    }
};

}  // namespace xenolith::testing
