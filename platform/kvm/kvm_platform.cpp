#include "platform/kvm/kvm_platform.hpp"

#include <algorithm>

#include "abi/xenolith.h"
#include "base/error.hpp"
#include "platform/kvm/dirty_log.hpp"
#include "platform/kvm/hvm_cpuid.hpp"
#include "platform/kvm/kvm_vcpu.hpp"
#include "platform/kvm/vcpu.hpp"

namespace xenolith::kvm {

namespace {
uint32_t probe_tsc_khz(const System& system) {
    Vm vm = system.create_vm();
    return vm.create_vcpu(0).tsc_khz();
}

// A notify port caught in the kernel: KVM signals the eventfd when the guest writes the
// port number to XENOLITH_NOTIFY_PORT, with no exit to user space.
class KvmNotifyEndpoint final : public platform::NotifyEndpoint {
  public:
    KvmNotifyEndpoint(const Vm& vm, uint32_t port)
        : event_(vm, XENOLITH_NOTIFY_PORT, 4, uint64_t{port}) {}
    int fd() const override { return event_.fd(); }
    void detach() override { event_.deassign(); }

  private:
    IoEventFd event_;
};
}  // namespace

KvmPlatform::KvmPlatform(const std::string& path)
    : system_(path), flavour_(probe_host(path).flavour), tsc_khz_(probe_tsc_khz(system_)) {}

bool KvmPlatform::supports_hvm() const {
    return flavour_ == Flavour::VtX || flavour_ == Flavour::AmdV;
}

uint32_t KvmPlatform::max_vcpus() const {
    return static_cast<uint32_t>(std::max(0, system_.check_extension(KVM_CAP_MAX_VCPUS)));
}

std::unique_ptr<platform::Vm> KvmPlatform::create_vm(const platform::VmConfig& config) {
    // An hvm VM is made on PVM too: PVM emulates enough of CPL 0 for the PVH tests, though
    // not enough for Linux, which is why the toolstack asks supports_hvm() first.
    return std::make_unique<KvmVm>(*this, config);
}

KvmVm::KvmVm(const KvmPlatform& platform, const platform::VmConfig& config)
    : platform_(platform), config_(config), vm_(platform.system().create_vm()) {
    ram_.emplace(vm_, config.ram.host, config.ram.size);
    if (config.hvm) {
        // Before the vCPUs: KVM gives each one a LAPIC only if the irqchip exists already.
        // The LAPIC is how event upcalls arrive (a vector) and how the guest keeps time
        // between Xen timer events; there is no other device model.
        vm_.set_tss_addr(kPvhTssAddress);
        vm_.create_irqchip();
        vm_.trap_msrs_to_user({kXenHypercallMsr});
    }
    platform::install_kick_handler();
}

std::unique_ptr<platform::Vcpu> KvmVm::create_vcpu(uint32_t id) {
    if (id >= config_.vcpus)
        throw Error("vCPU " + std::to_string(id) + " is beyond the VM's vCPUs");
    kvm::Vcpu cpu = vm_.create_vcpu(id);
    if (config_.hvm)
        cpu.set_cpuid(hvm_cpuid(platform_.system().supported_cpuid(), id, config_.domid));
    return std::make_unique<KvmVcpu>(*this, std::move(cpu), config_.hvm, platform_.flavour());
}

std::unique_ptr<platform::NotifyEndpoint> KvmVm::notify_endpoint(uint32_t port) {
    return std::make_unique<KvmNotifyEndpoint>(vm_, port);
}

void KvmVm::map_extra_page(uint32_t key, uint64_t gpa, void* host) {
    vm_.set_memory_region(kExtraPageSlotBase + key, gpa, host, host ? 4096 : 0);
}

bool KvmVm::raise_vector(uint32_t vcpu, uint8_t vector) {
    return vm_.signal_msi(vcpu, vector);
}

void KvmVm::set_acpi_ports(uint16_t sleep_control, uint16_t reset, uint8_t reset_value) {
    acpi_ = AcpiPorts{sleep_control, reset, reset_value};
}

bool KvmVm::watch_writes(uint64_t gpa, uint64_t len, bool on) {
    ram_->watch(gpa, len, on);
    return true;
}

std::unique_ptr<platform::DirtyLog> KvmVm::start_dirty_log() {
    return std::make_unique<KvmDirtyLog>(*ram_);
}

}  // namespace xenolith::kvm
