// A platform whose vCPU returns exits a test scripts, one per run(), with the registers the
// test says the guest had: how hv::Vcpu's handling of each neutral exit is tested without
// running guest code (as Firecracker tests its exit handler with synthetic exits). What the
// hypervisor wrote back is recorded. When the script is done, run() waits to be kicked.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "platform/platform.hpp"
#include "tests/support/null_platform.hpp"

namespace xenolith::testing {

struct Script {
    struct Step {
        platform::Exit exit;
        platform::Registers regs;  // the guest's registers at this exit
    };
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<Step> steps;
    // Registers the hypervisor wrote back before each following run().
    std::vector<platform::Registers> written;
    std::vector<bool> hypercall_page_answers;
    bool done = false;  // every step was taken and the next run() began

    // Waits (bounded) until every step was taken and its effects written back.
    bool wait_done(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, timeout, [&] { return done; });
    }
};

class ScriptedVcpu final : public platform::Vcpu {
  public:
    explicit ScriptedVcpu(std::shared_ptr<Script> script) : script_(std::move(script)) {}
    void boot(const platform::BootContext& ctx) override { regs_ = ctx.regs; }
    platform::Exit run() override {
        {
            std::lock_guard lock(script_->mutex);
            if (dirty_) script_->written.push_back(regs_);
            dirty_ = false;
            if (!script_->steps.empty()) {
                Script::Step step = script_->steps.front();
                script_->steps.pop_front();
                regs_ = step.regs;
                return step.exit;
            }
            script_->done = true;
        }
        script_->changed.notify_all();
        return idle_.run();
    }
    void request_exit() noexcept override { idle_.request_exit(); }
    void note_exit_request() noexcept override { idle_.note_exit_request(); }
    void clear_exit_request() noexcept override { idle_.clear_exit_request(); }
    platform::Registers& regs() override { return regs_; }
    void mark_regs_dirty() override { dirty_ = true; }
    platform::ControlRegisters control_registers() override { return {.cr3 = 0x1000}; }
    platform::ExtendedState extended_state() override { return {}; }
    void complete_hypercall_page(bool ok) override {
        std::lock_guard lock(script_->mutex);
        script_->hypercall_page_answers.push_back(ok);
    }

  private:
    std::shared_ptr<Script> script_;
    platform::Registers regs_;
    bool dirty_ = false;
    NullVcpu idle_;
};

class ScriptedPlatform final : public platform::Platform {
  public:
    explicit ScriptedPlatform(std::shared_ptr<Script> script) : script_(std::move(script)) {}
    const char* name() const override { return "scripted"; }
    bool supports_hvm() const override { return true; }
    uint32_t tsc_khz() const override { return 1'000'000; }
    uint32_t max_vcpus() const override { return 0; }
    std::unique_ptr<platform::Vm> create_vm(const platform::VmConfig&) override {
        return std::make_unique<Vm>(script_);
    }

  private:
    class Vm final : public platform::Vm {
      public:
        explicit Vm(std::shared_ptr<Script> script) : script_(std::move(script)) {}
        // vCPU 0 follows the script; any other idles.
        std::unique_ptr<platform::Vcpu> create_vcpu(uint32_t id) override {
            if (id == 0) return std::make_unique<ScriptedVcpu>(script_);
            return std::make_unique<NullVcpu>();
        }
        std::unique_ptr<platform::NotifyEndpoint> notify_endpoint(uint32_t) override {
            return std::make_unique<platform::EventFdEndpoint>();
        }

      private:
        std::shared_ptr<Script> script_;
    };
    std::shared_ptr<Script> script_;
};

}  // namespace xenolith::testing
