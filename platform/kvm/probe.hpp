// What kind of KVM this host offers, and which capabilities Xenolith relies on.
#pragma once

#include <string>
#include <vector>

namespace xenolith::kvm {

enum class Flavour { VtX, AmdV, Pvm, Unknown };

const char* flavour_name(Flavour f);

struct Capability {
    const char* name;
    long id;
    int value;  // KVM_CHECK_EXTENSION's answer; 0 = absent
};

struct HostProbe {
    Flavour flavour = Flavour::Unknown;
    bool kvm_available = false;
    std::string kvm_error;  // why /dev/kvm cannot be used, when it cannot
    std::string cpu_model;
    unsigned host_cpus = 0;
    unsigned long long host_memory_bytes = 0;
    unsigned tsc_khz = 0;
    std::vector<Capability> capabilities;

    // PV guests run at CPL 3: any KVM will do. PVH needs hardware virtualization.
    bool can_run_pv() const { return kvm_available; }
    bool can_run_pvh() const {
        return kvm_available && (flavour == Flavour::VtX || flavour == Flavour::AmdV);
    }
    int capability(const std::string& name) const;
};

// Reads /proc/cpuinfo, /sys/module and asks /dev/kvm. Never throws: a host without KVM
// yields kvm_available = false with the reason in kvm_error.
HostProbe probe_host(const std::string& kvm_path = "/dev/kvm");

}  // namespace xenolith::kvm
