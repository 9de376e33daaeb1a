// Event channels, Xen's 2-level ABI: a per-domain port table and the pending/mask bitmaps in
// shared_info. This file owns the port state machine; the bitmaps are guest memory and are
// touched only with atomic operations because the guest writes them concurrently.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "abi/xen.hpp"
#include "platform/platform.hpp"

namespace xenolith::hv {

class Domain;

// The host side of a channel whose other end is a guest port: a backend in the hypervisor
// process (Xen's dom0 role). The eventfd becomes readable when the guest notifies; where
// the platform can, without an exit (KVM signals it in the kernel when the guest uses the
// notify port, docs/guest-abi.md).
struct HostEndpoint {
    std::unique_ptr<platform::NotifyEndpoint> event;
};

// 2-level limit: one bit per port in shared_info's evtchn_pending.
inline constexpr uint32_t kMaxEventChannels2L = sizeof(xen_ulong_t) * sizeof(xen_ulong_t) * 64;
inline constexpr uint32_t kDefaultMaxEventChannels = 1023;

// Save/restore: one port as a domain stream carries it (docs/domain-stream.md). `status` is
// EVTCHNSTAT_unbound, _virq or _ipi: a channel bound to a backend in this process is saved
// as unbound and offered to domid 0 again, so that the restored domain's backend binds it.
struct SavedPort {
    uint32_t port = 0;
    uint32_t status = EVTCHNSTAT_closed;
    uint32_t vcpu = 0;
    uint32_t virq = 0;       // _virq
    domid_t remote_dom = 0;  // _unbound: the domain it is offered to
};

class EventChannelTable {
  public:
    EventChannelTable(Domain& domain, uint32_t max_ports);

    // Each returns a port (>= 0) or a negative Xen errno.
    long alloc_unbound(domid_t remote_dom);
    long bind_virq(uint32_t virq, uint32_t vcpu);
    long bind_ipi(uint32_t vcpu);
    // Binds to `remote_port`, an unbound port of `remote_dom` offered to this domain.
    long bind_interdomain(domid_t remote_dom, uint32_t remote_port);
    long close(uint32_t port);
    long send(uint32_t port);
    long status(evtchn_status_t& status);
    long unmask(uint32_t port);
    long bind_vcpu(uint32_t port, uint32_t vcpu);

    // Binds the backend side to `port`, an unbound port the guest offered to domid 0.
    // Returns 0 and the endpoint, or a negative Xen errno.
    long bind_host(uint32_t port, std::shared_ptr<HostEndpoint>& endpoint);
    // The backend lets go: the guest's port is unbound again, still offered to domid 0.
    void unbind_host(uint32_t port, const HostEndpoint& endpoint);
    // The backend notifies the guest on `port` (if still bound to `endpoint`).
    void notify_from_host(uint32_t port, const HostEndpoint& endpoint);

    // Raises `virq` on `vcpu` if the guest bound it; used by timers and the console.
    void raise_virq(uint32_t virq, uint32_t vcpu);
    // True when `port` is a valid port whose pending bit is set (SCHEDOP_poll).
    bool is_pending(uint32_t port) const;
    bool is_valid(uint32_t port) const;
    // True when `port`'s mask bit is set in shared_info (a diagnostic: `xn debug-keys e`).
    bool is_masked(uint32_t port) const;
    // Ports [0, nr_ports()) have been allocated at some time; status() describes each.
    uint32_t nr_ports() const { return nr_ports_.load(std::memory_order_acquire); }
    uint32_t max_ports() const { return max_ports_; }
    uint32_t ports_in_use() const;
    // EVTCHNOP_send calls that named a valid port (the notify port's ioeventfd fast path
    // never reaches the hypervisor and is not counted).
    uint64_t sends() const { return sends_.load(std::memory_order_relaxed); }
    // Every open port. Throws Error for a channel bound to another guest's port, which
    // this version cannot carry.
    std::vector<SavedPort> save_ports() const;
    // Into a table that has nothing open yet (a domain being restored): each port at its
    // own number. 0, or -XEN_EINVAL for a port out of range or a state that does not
    // check out, -XEN_EEXIST for a port given twice (hostile streams).
    long restore_port(const SavedPort& saved);
    // Closes every port, as Xen does when a domain dies: interdomain peers go back to
    // unbound, so no other domain is left bound to a dead port.
    void reset();

  private:
    enum class State : uint8_t { Free, Unbound, Interdomain, Virq, Ipi, Reserved };
    struct Channel {
        State state = State::Free;
        uint32_t notify_vcpu = 0;
        uint32_t virq = 0;
        domid_t remote_dom = 0;
        uint32_t remote_port = 0;
        std::weak_ptr<Domain> peer;          // Interdomain: the other end (may be this domain)
        std::shared_ptr<HostEndpoint> host;  // Interdomain with a backend in this process
    };

    // A port's lock and state. Writers hold the table lock and then this one; the hot
    // paths (send, deliver, unmask, backend notify) take only this one.
    struct Slot {
        mutable std::mutex lock;
        Channel ch;
    };
    // Ports live in buckets of kBucketSize that never move once allocated, so a slot can be
    // reached without the table lock (Xen's bucket_from_port).
    static constexpr uint32_t kBucketSize = 64;
    static constexpr uint32_t kMaxBuckets = kMaxEventChannels2L / kBucketSize;
    using Bucket = std::array<Slot, kBucketSize>;

    // The slot of an allocated port, or nullptr. Needs no lock.
    Slot* slot(uint32_t port) const;
    // Takes the lowest free port for `channel` (table lock held); -XEN_ENOSPC at the limit.
    long allocate_locked(const Channel& channel);
    // Adds the next port's slot (table lock held); false at the limit.
    bool extend_locked();
    // Frees `port` (table lock and its slot lock held).
    void free_locked(uint32_t port, Channel& ch);
    // Sets the pending bit and, when unmasked, the vCPU's selector and upcall flag.
    void set_pending(uint32_t port, uint32_t vcpu);
    void clear_pending(uint32_t port);
    // The peer's side of a send: raises `port` if it is still bound to (from_dom, from_port).
    void deliver(uint32_t port, domid_t from_dom, uint32_t from_port);

    Domain& domain_;
    uint32_t max_ports_;
    // The table lock: allocation and every change of a port's state (never global; the
    // bitmaps in shared_info need no lock at all, they are atomics).
    mutable std::mutex mutex_;
    std::array<std::atomic<Bucket*>, kMaxBuckets> buckets_{};
    std::vector<std::unique_ptr<Bucket>> owned_buckets_;  // table lock
    std::atomic<uint64_t> sends_{0};
    std::atomic<uint32_t> nr_ports_{0};             // ports [0, nr_ports_) have slots
    std::vector<std::vector<int32_t>> virq_ports_;  // [vcpu][virq] -> port or -1, table lock
};

}  // namespace xenolith::hv
