// xl debug-keys: what the hypervisor's dump keys print, for every domain the daemon owns.
#include <cinttypes>
#include <cstdio>

#include <xen/io/console.h>
#include <xen/io/xs_wire.h>

#include "hv/debug_keys.hpp"
#include "toolstack/api/protocol.hpp"
#include "toolstack/daemon/domain_manager.hpp"
#include "toolstack/daemon/managed_domain.hpp"

namespace xenolith::daemon {

namespace {

// A shared ring's four indices, read from guest RAM as the guest leaves them.
template <class Interface>
std::string ring_line(hv::Domain& d, const char* name, uint64_t gpa) {
    const Interface* intf = gpa ? d.memory().object<Interface>(gpa) : nullptr;
    if (!intf) return "(d" + std::to_string(d.id()) + ") " + name + " ring: none";
    auto load = [](const auto& idx) { return __atomic_load_n(&idx, __ATOMIC_ACQUIRE); };
    char buf[160];
    if constexpr (std::is_same_v<Interface, xenstore_domain_interface>)
        std::snprintf(buf, sizeof buf, "(d%u) %s ring: req cons %u prod %u, rsp cons %u prod %u",
                      d.id(), name, load(intf->req_cons), load(intf->req_prod),
                      load(intf->rsp_cons), load(intf->rsp_prod));
    else
        std::snprintf(buf, sizeof buf, "(d%u) %s ring: in cons %u prod %u, out cons %u prod %u",
                      d.id(), name, load(intf->in_cons), load(intf->in_prod), load(intf->out_cons),
                      load(intf->out_prod));
    return buf;
}

}  // namespace

std::vector<std::string> DomainManager::debug_keys(const std::string& keys) const {
    for (char k : keys)
        if (k != 'q' && k != 'e')
            throw api::ApiError("EINVAL", std::string("no debug key '") + k +
                                              "' (this hypervisor has 'q': vCPUs and rings, "
                                              "'e': event channels)");
    std::vector<std::shared_ptr<ManagedDomain>> all;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, md] : domains_) all.push_back(md);
    }
    std::vector<std::string> lines;
    for (char k : keys) {
        lines.push_back(k == 'q' ? "'q' pressed -> dumping domain info"
                                 : "'e' pressed -> dumping event-channel info");
        for (const auto& md : all) {
            std::lock_guard op(md->op_mutex);
            if (md->torn_down || !md->domain) continue;
            hv::Domain& d = *md->domain;
            std::vector<std::string> part =
                k == 'q' ? hv::dump_vcpus(d) : hv::dump_event_channels(d);
            if (k == 'q') {
                part.push_back(ring_line<xenstore_domain_interface>(d, "xenstore",
                                                                    md->guest.layout.store_ring));
                part.push_back(
                    ring_line<xencons_interface>(d, "console", md->guest.layout.console_ring));
            }
            lines.insert(lines.end(), part.begin(), part.end());
        }
    }
    return lines;
}

}  // namespace xenolith::daemon
