#include "toolstack/launch/store_service.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "backends/xenstored/path.hpp"
#include "base/error.hpp"

namespace xenolith::launch {

StoreService::StoreService(hv::Hypervisor& hv)
    : hv_(hv),
      daemon_({}, xenstored::DomainHooks{[this](uint32_t domid, uint64_t, uint32_t port) {
                                             return introduce(domid, port);
                                         },
                                         [this](uint32_t domid) { release(domid); }}),
      client_(daemon_),
      backends_(daemon_),
      backend_log_(
          [](const std::string& line) { std::fprintf(stderr, "xenolith: %s\n", line.c_str()); }) {}

StoreService::~StoreService() {
    std::vector<uint32_t> ids;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, link] : links_) ids.push_back(id);
    }
    for (uint32_t id : ids) remove_domain(static_cast<domid_t>(id));
}

// Called by xenstored for XS_INTRODUCE: the ring is reached through the domain's reserved
// xenstore grant, as Xen's xenstored maps it, so the frame number is not needed.
int StoreService::introduce(uint32_t domid, uint32_t port) {
    if (!own_request_) return EPERM;
    auto domain = hv_.find(static_cast<domid_t>(domid));
    if (!domain) return ESRCH;
    try {
        auto link = std::make_unique<backends::XenstoreRingLink>(domain, daemon_, port, restoring_);
        links_[domid] = std::move(link);  // mutex_ is held by add_domain, our caller
    } catch (const Error&) {
        return EINVAL;
    }
    return 0;
}

void StoreService::release(uint32_t domid) {
    if (!own_request_) return;  // the links stay until the toolstack removes the domain
    auto it = links_.find(domid);
    if (it == links_.end()) return;
    graveyard_.push_back(std::move(it->second));
    links_.erase(it);
}

void StoreService::add_domain(hv::Domain& d, const boot::PvLayout& layout) {
    const std::string id = std::to_string(d.id());
    const std::string dom = "/local/domain/" + id;
    const std::string vm = "/vm/" + hv::uuid_to_string(d.uuid());
    const std::string owner_rw = "n" + id;              // the guest owns it: reads and writes
    const std::string read_only[2] = {"n0", "r" + id};  // dom0 owns it, the guest reads
    std::lock_guard lock(mutex_);
    write_vm_locked(d);
    client_.mkdir(dom);
    client_.set_perms(dom, {read_only[0], read_only[1]});
    client_.write(dom + "/name", d.name());
    client_.write(dom + "/domid", id);
    client_.write(dom + "/vm", vm);
    std::string kib = std::to_string(d.memory().size() >> 10);
    client_.write(dom + "/memory/target", kib);
    client_.write(dom + "/memory/static-max", kib);
    for (uint32_t v = 0; v < d.nr_vcpus(); ++v)
        client_.write(dom + "/cpu/" + std::to_string(v) + "/availability", "online");
    for (const char* dir : {"/control", "/data", "/device", "/error", "/drivers", "/attr"}) {
        client_.mkdir(dom + dir);
        client_.set_perms(dom + dir, {owner_rw});
    }
    client_.write(dom + "/control/shutdown", "");
    client_.set_perms(dom + "/control/shutdown", {owner_rw});
    client_.write(dom + "/console/ring-ref", std::to_string(layout.console_ring >> hv::kPageShift));
    client_.write(dom + "/console/port", std::to_string(layout.console_port));
    client_.write(dom + "/console/type", "xenconsoled");
    client_.write(dom + "/store/ring-ref", std::to_string(layout.store_ring >> hv::kPageShift));
    client_.write(dom + "/store/port", std::to_string(layout.store_port));
    introduce_locked(d, layout.store_ring, layout.store_port);
}

void StoreService::write_vm_locked(const hv::Domain& d) {
    const std::string vm = "/vm/" + hv::uuid_to_string(d.uuid());
    vm_paths_[d.id()] = vm;  // first: a failure below still lets remove_domain clean up
    client_.write(vm + "/name", d.name());
    client_.write(vm + "/uuid", hv::uuid_to_string(d.uuid()));
}

void StoreService::introduce_locked(const hv::Domain& d, uint64_t ring, uint32_t port) {
    own_request_ = true;
    try {
        client_.introduce(d.id(), ring >> hv::kPageShift, port);
    } catch (...) {
        own_request_ = false;
        throw;
    }
    own_request_ = false;
}

xenstored::DomainStoreState StoreService::hold_domain(domid_t id) {
    std::lock_guard lock(mutex_);
    auto it = links_.find(id);
    if (it != links_.end()) it->second->hold();
    return daemon_.save_domain(id);
}

void StoreService::resume_domain(domid_t id) {
    std::lock_guard lock(mutex_);
    auto it = links_.find(id);
    if (it != links_.end()) it->second->resume();
}

void StoreService::restore_domain(hv::Domain& d, uint64_t store_ring, uint32_t store_port,
                                  const xenstored::DomainStoreState& saved) {
    const xenstored::DomainStoreState state = xenstored::renumbered(saved, d.id());
    const std::string home = xenstored::domain_path(d.id());
    for (const xenstored::SavedNode& n : state.nodes)
        if (n.path != home && n.path.compare(0, home.size() + 1, home + "/") != 0)
            throw Error("the saved store node " + n.path + " is outside the domain's home");
    if (state.nodes.empty() || state.nodes.front().path != home)
        throw Error("the saved store state has no home node for the domain");
    if (int err = xenstored::session_fits(state.session, daemon_.quotas()))
        throw Error("the saved store session is not one a guest could have (" +
                    std::string(strerror(err)) + ")");
    std::lock_guard lock(mutex_);
    write_vm_locked(d);
    client_.mkdir(home);  // and its parents
    if (int err = daemon_.restore_nodes(state.nodes))
        throw Error("the saved store nodes do not fit the store (" + std::string(strerror(err)) +
                    ")");
    // What the domain's nodes name of it now: its id, and a name or uuid that may differ.
    client_.write(home + "/domid", std::to_string(d.id()));
    client_.write(home + "/name", d.name());
    client_.write(home + "/vm", vm_paths_[d.id()]);
    restoring_ = &state.session;
    try {
        introduce_locked(d, store_ring, store_port);
    } catch (...) {
        restoring_ = nullptr;
        throw;
    }
    restoring_ = nullptr;
}

void StoreService::set_vcpus_online(domid_t id, uint32_t online, uint32_t max) {
    const std::string cpu = "/local/domain/" + std::to_string(id) + "/cpu/";
    std::lock_guard lock(mutex_);
    for (uint32_t v = 0; v < max; ++v)
        client_.write(cpu + std::to_string(v) + "/availability", v < online ? "online" : "offline");
}

void StoreService::remove_domain(domid_t id) {
    std::vector<std::unique_ptr<backends::XenstoreRingLink>> dead;
    {
        std::lock_guard lock(mutex_);
        auto vm = vm_paths_.find(id);
        if (vm == vm_paths_.end()) return;
        own_request_ = true;
        try {
            client_.release(id);
        } catch (const Error&) {
            // Never introduced (a failed build): the nodes still go.
        }
        own_request_ = false;
        for (const std::string& path : {"/local/domain/" + std::to_string(id), vm->second}) {
            try {
                client_.rm(path);
            } catch (const Error&) {
            }
        }
        vm_paths_.erase(vm);
        dead.swap(graveyard_);
    }
    // Destroyed with no lock held: their threads may be waiting to finish a pump.
    dead.clear();
}

std::string StoreService::read(std::string_view path) {
    std::lock_guard lock(mutex_);
    return client_.read(path);
}

void StoreService::write(std::string_view path, std::string_view value) {
    std::lock_guard lock(mutex_);
    client_.write(path, value);
}

}  // namespace xenolith::launch
