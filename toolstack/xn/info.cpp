#include "toolstack/xn/info.hpp"

#include <sys/utsname.h>

#include <cstdio>
#include <string>

#include "hv/hypervisor.hpp"
#include "hv/version.hpp"
#include "kvm/probe.hpp"

namespace xenolith::xn {

namespace {
void field(const char* name, const std::string& value) {
    std::printf("%-23s: %s\n", name, value.c_str());
}
}  // namespace

int info_command() {
    kvm::HostProbe host = kvm::probe_host();
    utsname u{};
    ::uname(&u);
    field("host", u.nodename);
    field("release", u.release);
    field("version", u.version);
    field("machine", u.machine);
    field("nr_cpus", std::to_string(host.host_cpus));
    field("cpu_model", host.cpu_model);
    field("cpu_mhz", std::to_string(host.tsc_khz / 1000));
    field("total_memory", std::to_string(host.host_memory_bytes >> 20));
    field("free_memory", std::to_string(hv::Hypervisor::host_available_memory() >> 20));
    std::string caps;
    if (host.can_run_pv()) caps += "pv";
    if (host.can_run_pvh()) caps += " pvh";
    field("virt_caps", caps.empty() ? "none" : caps);
    field("xen_major", std::to_string(hv::kXenMajor));
    field("xen_minor", std::to_string(hv::kXenMinor));
    field("xen_extra", hv::kXenExtraVersion);
    field("xen_version", std::to_string(hv::kXenMajor) + "." + std::to_string(hv::kXenMinor) +
                             hv::kXenExtraVersion);
    field("xen_caps", hv::kXenCapabilities);
    field("kvm_flavour", kvm::flavour_name(host.flavour));
    field("kvm_device", host.kvm_available ? "/dev/kvm" : "unavailable: " + host.kvm_error);
    std::string kvm_caps;
    for (const auto& c : host.capabilities) {
        if (!kvm_caps.empty()) kvm_caps += ' ';
        kvm_caps += std::string(c.name) + "=" + std::to_string(c.value);
    }
    field("kvm_caps", kvm_caps);
    if (!host.can_run_pvh())
        field("pvh_note", std::string("PVH guests need VT-x or AMD-V; this host's KVM is ") +
                              kvm::flavour_name(host.flavour));
    return host.kvm_available ? 0 : 1;
}

}  // namespace xenolith::xn
