// Which platform runs a host's domains: `accel` in xl.cfg and the daemon's default.
// "auto" takes KVM where /dev/kvm can run guests and the process platform elsewhere.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "platform/platform.hpp"

namespace xenolith::platform {

enum class Accel { Auto, Kvm, Process };

const char* accel_name(Accel accel);
// "auto", "kvm" or "process"; nullopt for anything else.
std::optional<Accel> parse_accel(std::string_view text);

// What this host offers, for `xn info` and for choosing.
struct HostPlatforms {
    bool kvm = false;
    std::string kvm_flavour;  // "vt-x", "amd-v", "pvm" where KVM is usable
    std::string kvm_reason;   // why not, where it is not
    bool kvm_hvm = false;     // VT-x or AMD-V: PVH guests can run
    std::string cpu_model;
};
HostPlatforms probe_platforms(const std::string& kvm_path = "/dev/kvm");

// Opens the platform `accel` names (Auto: as above). Throws Error with the reason when it
// cannot be used here.
std::unique_ptr<Platform> open_platform(Accel accel, const std::string& kvm_path = "/dev/kvm");

}  // namespace xenolith::platform
