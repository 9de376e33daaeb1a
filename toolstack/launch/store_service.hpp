// The toolstack's xenstore: the daemon, one ring link per introduced guest, and the
// standard nodes every domain gets when it is created (what libxl writes for xl create).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "backends/xenstore_ring/ring_link.hpp"
#include "backends/xenstored/domain_state.hpp"
#include "backends/xenstored/local_client.hpp"
#include "backends/xenstored/watch_client.hpp"
#include "backends/xenstored/xenstored.hpp"
#include "boot/pv_builder.hpp"
#include "hv/hypervisor.hpp"

namespace xenolith::launch {

class StoreService {
  public:
    explicit StoreService(hv::Hypervisor& hv);
    ~StoreService();
    StoreService(const StoreService&) = delete;
    StoreService& operator=(const StoreService&) = delete;

    xenstored::Xenstored& daemon() { return daemon_; }
    // The backends' handle on the store (device directories, frontend watches).
    xenstored::WatchClient& backends() { return backends_; }
    // Where backends report a device they disconnect (one line each): stderr unless set.
    using Log = std::function<void(const std::string& line)>;
    void set_backend_log(Log log) { backend_log_ = std::move(log); }
    const Log& backend_log() const { return backend_log_; }

    // Writes /local/domain/<id>/{name,domid,vm,memory,cpu,control,data,device,console,store}
    // and /vm/<uuid>, then introduces the domain: its ring goes live, @introduceDomain fires.
    void add_domain(hv::Domain& domain, const boot::PvLayout& layout);
    // Releases the domain (@releaseDomain fires, its watches go) and removes its nodes.
    void remove_domain(domid_t id);

    // A domain being saved: its ring stands still from here until resume_domain() or
    // remove_domain(), and its part of the store is returned (domain_state.hpp).
    xenstored::DomainStoreState hold_domain(domid_t id);
    void resume_domain(domid_t id);
    // A restored domain's entry: the saved nodes, moved under its new id, /vm/<uuid>, and
    // its ring, whose connection takes up the saved session before it first reads. Throws
    // Error for a node outside the domain's home or one the store refuses; remove_domain
    // then cleans up.
    void restore_domain(hv::Domain& domain, uint64_t store_ring, uint32_t store_port,
                        const xenstored::DomainStoreState& saved);

    // cpu/<n>/availability: "online" below `online`, "offline" up to `max` (xl vcpu-set;
    // the guest brings vCPUs up and down as it sees these change).
    void set_vcpus_online(domid_t id, uint32_t online, uint32_t max);

    // The toolstack's privileged access (xl shutdown writes control/shutdown this way).
    std::string read(std::string_view path);
    void write(std::string_view path, std::string_view value);

  private:
    int introduce(uint32_t domid, uint32_t port);
    void write_vm_locked(const hv::Domain& d);
    void introduce_locked(const hv::Domain& d, uint64_t ring, uint32_t port);
    void release(uint32_t domid);

    hv::Hypervisor& hv_;
    std::mutex mutex_;  // links_, graveyard_, client_
    std::map<uint32_t, std::unique_ptr<backends::XenstoreRingLink>> links_;
    // Links released from inside xenstored (its lock held) are destroyed here afterwards:
    // their pump thread may be waiting for that very lock.
    std::vector<std::unique_ptr<backends::XenstoreRingLink>> graveyard_;
    std::map<uint32_t, std::string> vm_paths_;
    // Set while this service's own INTRODUCE/RELEASE runs (mutex_ held). Other clients
    // (the socket's) may not introduce or release domains: the toolstack does that.
    bool own_request_ = false;
    const xenstored::Session* restoring_ = nullptr;  // the session introduce() hands on
    xenstored::Xenstored daemon_;
    xenstored::LocalClient client_;
    xenstored::WatchClient backends_;
    Log backend_log_;
};

}  // namespace xenolith::launch
