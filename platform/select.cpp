#include "platform/select.hpp"

#include <cstdlib>

#include "base/error.hpp"
#include "platform/kvm/kvm_platform.hpp"
#include "platform/kvm/probe.hpp"
#include "platform/process/process_platform.hpp"

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

Accel accel_from_environment() {
    const char* value = std::getenv("XENOLITH_ACCEL");
    if (!value || !*value) return Accel::Auto;
    if (auto accel = parse_accel(value)) return *accel;
    throw Error(std::string("XENOLITH_ACCEL=") + value + ": expected auto, kvm or process");
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

Platforms::Platforms(Accel fallback, std::string kvm_path, std::string stub_path)
    : fallback_(fallback),
      kvm_path_(std::move(kvm_path)),
      stub_path_(std::move(stub_path)),
      host_(probe_platforms(kvm_path_)) {}

Platforms::Platforms(std::unique_ptr<Platform> only)
    : fallback_(Accel::Auto), only_(std::move(only)) {
    host_.kvm = std::string(only_->name()) == "kvm";
    host_.kvm_hvm = only_->supports_hvm();
}

Platforms::Choice Platforms::choose(Accel accel) {
    if (only_) return {*only_, "the hypervisor's only platform"};
    const bool by_default = accel == Accel::Auto && fallback_ != Accel::Auto;
    if (by_default) accel = fallback_;
    const std::string said = std::string(by_default ? "the default accel = \"" : "accel = \"") +
                             accel_name(accel) + "\"";
    switch (accel) {
        case Accel::Kvm:
            return {kvm(said), said};
        case Accel::Process:
            return {process(), said};
        case Accel::Auto:
            break;
    }
    if (host_.kvm) return {kvm("auto"), "auto: /dev/kvm runs guests (" + host_.kvm_flavour + ")"};
    return {process(), "auto: no usable /dev/kvm (" + host_.kvm_reason + ")"};
}

Platform& Platforms::kvm(const std::string& asked) {
    std::lock_guard lock(mutex_);
    if (!kvm_) {
        try {
            kvm_ = std::make_unique<kvm::KvmPlatform>(kvm_path_);
        } catch (const Error& e) {
            throw Error(asked + ": " + e.what());
        }
    }
    return *kvm_;
}

Platform& Platforms::process() {
    std::lock_guard lock(mutex_);
    if (!process_)
        process_ = std::make_unique<process::ProcessPlatform>(
            stub_path_.empty() ? process::default_stub_path() : stub_path_);
    return *process_;
}

}  // namespace xenolith::platform
