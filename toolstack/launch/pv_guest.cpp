#include "toolstack/launch/pv_guest.hpp"

#include "base/error.hpp"

namespace xenolith::launch {

PvGuest setup_pv_guest(hv::Hypervisor& hv, hv::Domain& domain, const boot::ElfImage& image,
                       std::string_view cmdline, backends::ConsoleBackend::Sink sink) {
    PvGuest guest;
    guest.layout = boot::build_pv_domain(domain, image, cmdline);
    domain.set_console(sink);
    auto shared = hv.find(domain.id());
    if (!shared) throw Error("domain " + std::to_string(domain.id()) + " is not registered");
    guest.console = std::make_unique<backends::ConsoleBackend>(shared, guest.layout.console_port,
                                                               std::move(sink));
    return guest;
}

}  // namespace xenolith::launch
