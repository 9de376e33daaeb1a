// Which platform runs a domain: `accel` in xl.cfg, the daemon's default (`--accel`, or the
// XENOLITH_ACCEL environment variable), and "auto", which takes KVM where /dev/kvm can run
// guests and the process platform elsewhere.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "platform/platform.hpp"

namespace xenolith::platform {

enum class Accel { Auto, Kvm, Process };

const char* accel_name(Accel accel);
// "auto", "kvm" or "process"; nullopt for anything else.
std::optional<Accel> parse_accel(std::string_view text);
// XENOLITH_ACCEL when it is set (Error naming the bad value otherwise), else Auto.
Accel accel_from_environment();

// What this host offers, for `xn info` and for choosing.
struct HostPlatforms {
    bool kvm = false;
    std::string kvm_flavour;  // "vt-x", "amd-v", "pvm" where KVM is usable
    std::string kvm_reason;   // why not, where it is not
    bool kvm_hvm = false;     // VT-x or AMD-V: PVH guests can run
    std::string cpu_model;
};
HostPlatforms probe_platforms(const std::string& kvm_path = "/dev/kvm");

// The platforms one hypervisor puts domains on, each opened the first time a domain needs
// it and kept for the rest (opening KVM probes it; the process platform measures the TSC).
class Platforms {
  public:
    // `fallback`: what Accel::Auto means for a domain that does not say (the daemon's
    // default). `stub_path` empty: xenolith-stub beside this executable.
    explicit Platforms(Accel fallback = Accel::Auto, std::string kvm_path = "/dev/kvm",
                       std::string stub_path = {});
    // Every domain on `only` (tests, benchmarks): no other is opened.
    explicit Platforms(std::unique_ptr<Platform> only);

    struct Choice {
        Platform& platform;
        std::string why;  // "auto: /dev/kvm runs guests (pvm)", "accel = \"process\"", ...
    };
    // The platform for a domain asking for `accel`. Throws Error with the reason when it
    // cannot be had here ("accel = \"kvm\": /dev/kvm: No such file or directory").
    Choice choose(Accel accel);
    // The platform domains get when they do not ask: what `xn info` reports.
    Choice default_choice() { return choose(Accel::Auto); }
    const HostPlatforms& host() const { return host_; }

  private:
    Platform& kvm(const std::string& asked);
    Platform& process();

    Accel fallback_;
    std::string kvm_path_;
    std::string stub_path_;
    HostPlatforms host_;
    std::mutex mutex_;
    std::unique_ptr<Platform> kvm_;
    std::unique_ptr<Platform> process_;
    std::unique_ptr<Platform> only_;
};

}  // namespace xenolith::platform
