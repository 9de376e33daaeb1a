// The KVM platform: platform::Platform and platform::Vm on /dev/kvm. VT-x and AMD-V run PV
// guests at CPL 3 and PVH guests with an in-kernel LAPIC; PVM runs PV guests only.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "platform/kvm/probe.hpp"
#include "platform/kvm/ram_layout.hpp"
#include "platform/kvm/system.hpp"
#include "platform/kvm/vm.hpp"
#include "platform/platform.hpp"

namespace xenolith::kvm {

// KVM memory slots: RAM is slot 0; the pages a PVH guest places outside RAM use these.
inline constexpr uint32_t kExtraPageSlotBase = 1;
// VT-x's real-mode TSS (three pages) for PVH domains: just below the 4 GiB line, inside the
// MMIO hole where no RAM is, as QEMU places it.
inline constexpr uint64_t kPvhTssAddress = 0xfffbd000;

// What a PVH guest's vCPUs need from their VM between exits.
struct AcpiPorts {
    uint16_t sleep_control = 0;
    uint16_t reset = 0;
    uint8_t reset_value = 0;
};

class KvmPlatform final : public platform::Platform {
  public:
    // Opens `path`; throws Error with the reason when it cannot run guests.
    explicit KvmPlatform(const std::string& path = "/dev/kvm");
    const char* name() const override { return "kvm"; }
    bool supports_hvm() const override;
    uint32_t tsc_khz() const override { return tsc_khz_; }
    uint32_t max_vcpus() const override;
    std::unique_ptr<platform::Vm> create_vm(const platform::VmConfig& config) override;

    const System& system() const { return system_; }
    Flavour flavour() const { return flavour_; }

  private:
    System system_;
    Flavour flavour_;
    uint32_t tsc_khz_;
};

class KvmVm final : public platform::Vm {
  public:
    KvmVm(const KvmPlatform& platform, const platform::VmConfig& config);
    std::unique_ptr<platform::Vcpu> create_vcpu(uint32_t id) override;
    std::unique_ptr<platform::NotifyEndpoint> notify_endpoint(uint32_t port) override;
    void map_extra_page(uint32_t key, uint64_t gpa, void* host) override;
    bool raise_vector(uint32_t vcpu, uint8_t vector) override;
    void set_acpi_ports(uint16_t sleep_control, uint16_t reset, uint8_t reset_value) override;
    // Read-only memory slots (RamLayout); every vCPU out of KVM_RUN.
    bool watch_writes(uint64_t gpa, uint64_t len, bool on) override;
    // KVM's dirty log on the RAM slots (KvmDirtyLog).
    std::unique_ptr<platform::DirtyLog> start_dirty_log() override;

    const AcpiPorts& acpi_ports() const { return acpi_; }
    const KvmPlatform& platform() const { return platform_; }
    // The RAM slots, for a vCPU's write exits (any thread).
    const RamLayout& ram() const { return *ram_; }

  private:
    const KvmPlatform& platform_;
    platform::VmConfig config_;
    kvm::Vm vm_;
    std::optional<RamLayout> ram_;
    AcpiPorts acpi_;
};

}  // namespace xenolith::kvm
