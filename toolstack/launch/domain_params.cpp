#include "toolstack/launch/domain_params.hpp"

#include "base/error.hpp"
#include "platform/select.hpp"

namespace xenolith::launch {

namespace {
// HVM_BELOW_4G_RAM_END: where the MMIO hole starts.
constexpr uint64_t kPvhMaxMemory = 0xf0000000;
}  // namespace

hv::DomainParams domain_params(const xlcfg::DomainConfig& cfg) {
    hv::DomainParams p;
    p.name = cfg.name;
    p.uuid = cfg.uuid;
    p.memory_bytes = cfg.memory_mib << 20;
    // Every vCPU the domain may ever have exists from the start, offline until the guest
    // brings it up (VCPUOP_up), as Xen allocates max_vcpus at domain creation.
    p.vcpus = cfg.maxvcpus;
    // Ports 0 .. max_event_channels, as xl counts them.
    p.max_event_channels = cfg.max_event_channels + 1;
    if (cfg.type == xlcfg::DomainType::Pvh) p.kind = hv::GuestKind::Pvh;
    switch (cfg.accel) {
        case xlcfg::Accel::Auto:
            p.accel = platform::Accel::Auto;
            break;
        case xlcfg::Accel::Kvm:
            p.accel = platform::Accel::Kvm;
            break;
        case xlcfg::Accel::Process:
            p.accel = platform::Accel::Process;
            break;
    }
    return p;
}

void require_supported_type(const xlcfg::DomainConfig& cfg, const std::string& config_name) {
    if (cfg.type == xlcfg::DomainType::Pv) return;
    if (cfg.type == xlcfg::DomainType::Pvh && cfg.accel == xlcfg::Accel::Process)
        throw Error(config_name +
                    ": type = \"pvh\" cannot run on the process platform "
                    "(accel = \"process\"): PVH needs hardware virtualization (VT-x or AMD-V)");
    const platform::HostPlatforms host = platform::probe_platforms();
    if (cfg.type == xlcfg::DomainType::Pvh) {
        if (!host.kvm_hvm)
            throw Error(config_name +
                        ": type = \"pvh\" needs hardware virtualization "
                        "(VT-x or AMD-V); " +
                        (host.kvm ? "this host's KVM is " + host.kvm_flavour
                                  : "this host has no KVM (" + host.kvm_reason + ")"));
        // RAM is one slot from guest-physical 0, so it must end below the MMIO hole.
        if ((cfg.memory_mib << 20) > kPvhMaxMemory)
            throw Error(config_name + ": memory = " + std::to_string(cfg.memory_mib) +
                        ": a PVH domain may have at most " + std::to_string(kPvhMaxMemory >> 20) +
                        " MiB here");
        return;
    }
    throw Error(config_name + ": type = \"" + std::string(to_string(cfg.type)) +
                "\" is not supported yet; use type = \"pv\"");
}

}  // namespace xenolith::launch
