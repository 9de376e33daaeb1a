#include "toolstack/launch/pv_guest.hpp"

#include "base/error.hpp"

namespace xenolith::launch {

PvGuest setup_pv_guest(hv::Hypervisor& hv, hv::Domain& domain, const boot::ElfImage& image,
                       std::string_view cmdline, backends::ConsoleBackend::Sink sink,
                       StoreService* store) {
    PvGuest guest;
    guest.layout = boot::build_pv_domain(domain, image, cmdline);
    domain.set_console(sink);
    auto shared = hv.find(domain.id());
    if (!shared) throw Error("domain " + std::to_string(domain.id()) + " is not registered");
    guest.console = std::make_unique<backends::ConsoleBackend>(shared, guest.layout.console_port,
                                                               std::move(sink));
    if (store) {
        guest.store = StoreEntry(store, domain.id());  // removes the nodes again on failure
        store->add_domain(domain, guest.layout);
        guest.devices = std::make_unique<DeviceSet>(store->backends(), store->backend_log());
    } else {
        // No xenstore here: say so in start_info (mfn 0), so that the guest's client gives
        // up at once instead of waiting on a ring nobody serves.
        auto* si = domain.memory().object<start_info_t>(guest.layout.start_info);
        si->store_mfn = 0;
        si->store_evtchn = 0;
        domain.evtchn().close(guest.layout.store_port);
        guest.layout.store_port = 0;
    }
    return guest;
}

}  // namespace xenolith::launch
