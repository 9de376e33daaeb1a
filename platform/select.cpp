#include "platform/select.hpp"

#include "base/error.hpp"
#include "platform/kvm/kvm_platform.hpp"
#include "platform/kvm/probe.hpp"

namespace xenolith::platform {

const char* accel_name(Accel accel) {
    switch (accel) {
        case Accel::Auto:
            return "auto";
        case Accel::Kvm:
            return "kvm";
        case Accel::Process:
            return "process";
    }
    return "?";
}

std::optional<Accel> parse_accel(std::string_view text) {
    if (text == "auto") return Accel::Auto;
    if (text == "kvm") return Accel::Kvm;
    if (text == "process") return Accel::Process;
    return std::nullopt;
}

HostPlatforms probe_platforms(const std::string& kvm_path) {
    const kvm::HostProbe probe = kvm::probe_host(kvm_path);
    HostPlatforms h;
    h.kvm = probe.kvm_available;
    if (h.kvm) h.kvm_flavour = kvm::flavour_name(probe.flavour);
    h.kvm_reason = probe.kvm_error;
    h.kvm_hvm = probe.can_run_pvh();
    h.cpu_model = probe.cpu_model;
    return h;
}

std::unique_ptr<Platform> open_platform(Accel accel, const std::string& kvm_path) {
    switch (accel) {
        case Accel::Auto:
        case Accel::Kvm:
            return std::make_unique<kvm::KvmPlatform>(kvm_path);
        case Accel::Process:
            throw Error("the process platform is not built yet");
    }
    throw Error("unknown platform");
}

}  // namespace xenolith::platform
