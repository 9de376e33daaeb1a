// The gdb server's Target (vmi/gdb/gdb_target.hpp) on a DebugClient: gdb's threads are the
// domain's vCPUs (thread = vCPU + 1), and each request is one control API call to xenolithd.
// The domain must already be stopped (DebugClient::stop) when the server starts.
#pragma once

#include "toolstack/debug/debug_client.hpp"
#include "vmi/gdb/gdb_target.hpp"

namespace xenolith::debug {

class RemoteTarget final : public vmi::gdb::Target {
  public:
    RemoteTarget(DebugClient& client, uint32_t vcpus) : client_(client), vcpus_(vcpus) {}

    std::vector<uint32_t> threads() override;
    bool read_registers(uint32_t thread, vmi::gdb::Registers& out) override;
    bool write_registers(uint32_t thread, const vmi::gdb::Registers& in) override;
    size_t read_memory(uint32_t thread, uint64_t addr, std::span<uint8_t> out) override;
    size_t write_memory(uint32_t thread, uint64_t addr, std::span<const uint8_t> in) override;
    bool insert_sw_breakpoint(uint64_t addr) override;
    bool remove_sw_breakpoint(uint64_t addr) override;
    void resume(const std::vector<vmi::gdb::ResumeAction>& actions) override;
    vmi::gdb::StopReason wait(const std::function<bool()>& interrupted) override;
    void detach() override;
    void kill() override;

  private:
    // gdb's thread id as a vCPU, or nullopt for one the domain does not have.
    std::optional<uint32_t> vcpu_of(uint32_t thread) const;

    DebugClient& client_;
    const uint32_t vcpus_;
};

}  // namespace xenolith::debug
