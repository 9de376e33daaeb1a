// The process platform: each domain's guest runs natively in a sandboxed stub process
// (platform/process/stub/), each vCPU a stub thread driven with ptrace. PV guests only.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "platform/platform.hpp"
#include "platform/process/stub_process.hpp"

namespace xenolith::platform::process {

// xenolith-stub beside this process's executable if it is there, else the build tree's.
std::string default_stub_path();

// The TSC rate, measured once per process (CPUID leaf 0x15 where it says, else against
// CLOCK_MONOTONIC_RAW for about 5 ms).
uint32_t measured_tsc_khz();

class ProcessPlatform final : public Platform {
  public:
    explicit ProcessPlatform(std::string stub_path = default_stub_path());
    const char* name() const override { return "process"; }
    bool supports_hvm() const override { return false; }
    uint32_t tsc_khz() const override { return measured_tsc_khz(); }
    uint32_t max_vcpus() const override;
    std::unique_ptr<Vm> create_vm(const VmConfig& config) override;

  private:
    std::string stub_path_;
};

class ProcessVm final : public Vm {
  public:
    ProcessVm(const std::string& stub_path, const VmConfig& config);
    ~ProcessVm() override;
    std::unique_ptr<Vcpu> create_vcpu(uint32_t id) override;
    std::unique_ptr<NotifyEndpoint> notify_endpoint(uint32_t port) override;
    // The stub's userfaultfd write-protects the pages (StubProcess::watch_writes).
    bool watch_writes(uint64_t gpa, uint64_t len, bool on) override;
    // The stub's asynchronous write-protect userfaultfd (ProcessDirtyLog).
    std::unique_ptr<DirtyLog> start_dirty_log() override;

    // The stub process (tests, diagnostics).
    pid_t stub_pid() const { return stub_->pid(); }
    pid_t stub_tid(uint32_t vcpu) const { return stub_->tid(vcpu); }

  private:
    std::shared_ptr<StubProcess> stub_;
    std::vector<bool> created_;
};

}  // namespace xenolith::platform::process
