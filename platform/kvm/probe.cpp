#include "platform/kvm/probe.hpp"

#include <linux/kvm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "base/error.hpp"
#include "platform/kvm/system.hpp"
#include "platform/kvm/vcpu.hpp"
#include "platform/kvm/vm.hpp"

namespace xenolith::kvm {

const char* flavour_name(Flavour f) {
    switch (f) {
        case Flavour::VtX:
            return "vt-x";
        case Flavour::AmdV:
            return "amd-v";
        case Flavour::Pvm:
            return "pvm";
        case Flavour::Unknown:
            break;
    }
    return "unknown";
}

int HostProbe::capability(const std::string& name) const {
    for (const auto& c : capabilities)
        if (name == c.name) return c.value;
    return 0;
}

namespace {

bool module_loaded(const char* name) {
    struct stat st {};
    return ::stat((std::string("/sys/module/") + name).c_str(), &st) == 0;
}

// The capabilities the design leans on (see shared/PLATFORM.md).
constexpr struct {
    const char* name;
    long id;
} kCapabilities[] = {
    {"SYNC_REGS", KVM_CAP_SYNC_REGS},
    {"IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT},
    {"IOEVENTFD", KVM_CAP_IOEVENTFD},
    {"IRQFD", KVM_CAP_IRQFD},
    {"IRQCHIP", KVM_CAP_IRQCHIP},
    {"USER_MEMORY", KVM_CAP_USER_MEMORY},
    {"READONLY_MEM", KVM_CAP_READONLY_MEM},
    {"NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS},
    {"NR_VCPUS", KVM_CAP_NR_VCPUS},
    {"MAX_VCPUS", KVM_CAP_MAX_VCPUS},
    {"XEN_HVM", KVM_CAP_XEN_HVM},
    {"X86_USER_SPACE_MSR", KVM_CAP_X86_USER_SPACE_MSR},
    {"X86_MSR_FILTER", KVM_CAP_X86_MSR_FILTER},
    {"SET_GUEST_DEBUG", KVM_CAP_SET_GUEST_DEBUG},
    {"DIRTY_LOG_RING", KVM_CAP_DIRTY_LOG_RING},
    {"BINARY_STATS_FD", KVM_CAP_BINARY_STATS_FD},
    {"TSC_CONTROL", KVM_CAP_TSC_CONTROL},
    {"VCPU_ATTRIBUTES", KVM_CAP_VCPU_ATTRIBUTES},
};

}  // namespace

HostProbe probe_host(const std::string& kvm_path) {
    HostProbe p;
    p.host_cpus = static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN));
    p.host_memory_bytes =
        static_cast<unsigned long long>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);

    bool vmx = false, svm = false;
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
        if (p.cpu_model.empty() && line.rfind("model name", 0) == 0) {
            auto colon = line.find(':');
            if (colon != std::string::npos) p.cpu_model = line.substr(colon + 2);
        }
        if (line.rfind("flags", 0) == 0) {
            std::istringstream words(line);
            for (std::string w; words >> w;) {
                vmx |= w == "vmx";
                svm |= w == "svm";
            }
            break;
        }
    }
    // PVM can be loaded on a machine whose CPU also has VT-x/AMD-V; the module in use wins.
    if (module_loaded("kvm_pvm"))
        p.flavour = Flavour::Pvm;
    else if (vmx && module_loaded("kvm_intel"))
        p.flavour = Flavour::VtX;
    else if (svm && module_loaded("kvm_amd"))
        p.flavour = Flavour::AmdV;
    else if (vmx)
        p.flavour = Flavour::VtX;
    else if (svm)
        p.flavour = Flavour::AmdV;

    try {
        System sys(kvm_path);
        for (const auto& c : kCapabilities)
            p.capabilities.push_back({c.name, c.id, sys.check_extension(c.id)});
        Vm vm = sys.create_vm();
        Vcpu vcpu = vm.create_vcpu(0);
        p.tsc_khz = vcpu.tsc_khz();
        // Only now: a /dev/kvm that opens but cannot make a VM and a vCPU runs nothing.
        p.kvm_available = true;
    } catch (const Error& e) {
        p.kvm_error = e.what();
    }
    return p;
}

}  // namespace xenolith::kvm
