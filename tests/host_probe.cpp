// xenolith-host-probe: can this host's /dev/kvm run guests? Prints one line and exits 0
// (usable, with its flavour and what introspection it allows) or 1 (not, with the reason).
// tests/run-suites.sh asks it where the tests labelled `kvm` can run.
#include <cstdio>
#include <string>

#include "base/error.hpp"
#include "platform/kvm/debug_probe.hpp"
#include "platform/kvm/probe.hpp"
#include "platform/kvm/system.hpp"

namespace {
std::string verdict(const std::string& why) {
    return why.empty() ? "yes" : "no: " + why;
}
}  // namespace

int main() {
    const xenolith::kvm::HostProbe host = xenolith::kvm::probe_host();
    if (!host.kvm_available) {
        std::printf("kvm: no (%s)\n", host.kvm_error.c_str());
        return 1;
    }
    const xenolith::kvm::System system;
    const xenolith::kvm::GuestDebugProbe& debug = xenolith::kvm::guest_debug_probe(system);
    std::printf("kvm: yes (%s; single-step %s; int3 exits %s)\n",
                xenolith::kvm::flavour_name(host.flavour), verdict(debug.single_step).c_str(),
                verdict(debug.breakpoints).c_str());
    return 0;
}
