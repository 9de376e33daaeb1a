// xenolith-host-probe: can this host's /dev/kvm run guests? Prints one line and exits 0
// (usable, with its flavour) or 1 (not, with the reason). tests/run-suites.sh asks it where
// the tests labelled `kvm` can run.
#include <cstdio>

#include "platform/kvm/probe.hpp"

int main() {
    const xenolith::kvm::HostProbe host = xenolith::kvm::probe_host();
    if (!host.kvm_available) {
        std::printf("kvm: no (%s)\n", host.kvm_error.c_str());
        return 1;
    }
    std::printf("kvm: yes (%s)\n", xenolith::kvm::flavour_name(host.flavour));
    return 0;
}
