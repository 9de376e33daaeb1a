#include "hv/evtchn.hpp"

#include "abi/xen.hpp"

#include <unistd.h>

#include <atomic>

#include "abi/xenolith.h"
#include "base/error.hpp"
#include "hv/domain.hpp"
#include "hv/hypervisor.hpp"
#include "hv/vcpu.hpp"

namespace xenolith::hv {

namespace {

constexpr unsigned kBitsPerWord = sizeof(xen_ulong_t) * 8;

bool test_and_set(xen_ulong_t& word, unsigned bit) {
    xen_ulong_t mask = xen_ulong_t{1} << bit;
    return (std::atomic_ref<xen_ulong_t>(word).fetch_or(mask) & mask) != 0;
}
void clear_bit(xen_ulong_t& word, unsigned bit) {
    std::atomic_ref<xen_ulong_t>(word).fetch_and(~(xen_ulong_t{1} << bit));
}
bool test_bit(const xen_ulong_t& word, unsigned bit) {
    return (std::atomic_ref<xen_ulong_t>(const_cast<xen_ulong_t&>(word)).load() >> bit) & 1;
}

// Virtual IRQs bound per vCPU in Xen; the rest are global (bound on vCPU 0).
bool virq_is_per_vcpu(uint32_t virq) {
    return virq == VIRQ_TIMER || virq == VIRQ_DEBUG || virq == VIRQ_XENOPROF || virq == VIRQ_XENPMU;
}

}  // namespace

EventChannelTable::EventChannelTable(Domain& domain, uint32_t max_ports)
    : domain_(domain),
      max_ports_(max_ports == 0 || max_ports > kMaxEventChannels2L ? kMaxEventChannels2L
                                                                   : max_ports),
      virq_ports_(domain.nr_vcpus(), std::vector<int32_t>(NR_VIRQS, -1)) {
    std::lock_guard lock(mutex_);
    // Port 0 is never allocated, as in Xen.
    allocate_locked({.state = State::Reserved});
}

EventChannelTable::Slot* EventChannelTable::slot(uint32_t port) const {
    if (port >= nr_ports_.load(std::memory_order_acquire)) return nullptr;
    Bucket* b = buckets_[port / kBucketSize].load(std::memory_order_acquire);
    return b ? &(*b)[port % kBucketSize] : nullptr;
}

bool EventChannelTable::is_valid(uint32_t port) const {
    Slot* s = slot(port);
    if (!s) return false;
    std::lock_guard lock(s->lock);
    return s->ch.state != State::Free && s->ch.state != State::Reserved;
}

uint32_t EventChannelTable::ports_in_use() const {
    std::lock_guard lock(mutex_);
    uint32_t n = 0;
    for (uint32_t p = 0; p < nr_ports_.load(); ++p) {
        State st = slot(p)->ch.state;  // writers hold the table lock: reading under it is safe
        n += st != State::Free && st != State::Reserved;
    }
    return n;
}

long EventChannelTable::allocate_locked(const Channel& channel) {
    uint32_t n = nr_ports_.load();
    uint32_t port = 1;
    while (port < n && slot(port)->ch.state != State::Free) ++port;
    if (channel.state == State::Reserved) port = 0;
    if (port >= n) {
        if (!extend_locked()) return -XEN_ENOSPC;
        port = n;
    }
    Slot* s = slot(port);
    std::lock_guard lock(s->lock);
    s->ch = channel;
    return port;
}

bool EventChannelTable::extend_locked() {
    const uint32_t port = nr_ports_.load();
    if (port >= max_ports_) return false;
    if (port % kBucketSize == 0) {
        owned_buckets_.push_back(std::make_unique<Bucket>());
        buckets_[port / kBucketSize].store(owned_buckets_.back().get(), std::memory_order_release);
    }
    nr_ports_.store(port + 1, std::memory_order_release);
    return true;
}

std::vector<SavedPort> EventChannelTable::save_ports() const {
    std::lock_guard lock(mutex_);
    std::vector<SavedPort> ports;
    for (uint32_t p = 1; p < nr_ports_.load(); ++p) {
        const Channel& c = slot(p)->ch;  // writers hold the table lock
        SavedPort saved{.port = p, .vcpu = c.notify_vcpu};
        switch (c.state) {
            case State::Free:
            case State::Reserved:
                continue;
            case State::Unbound:
                saved.status = EVTCHNSTAT_unbound;
                saved.remote_dom = c.remote_dom;
                break;
            case State::Virq:
                saved.status = EVTCHNSTAT_virq;
                saved.virq = c.virq;
                break;
            case State::Ipi:
                saved.status = EVTCHNSTAT_ipi;
                break;
            case State::Interdomain:
                if (!c.host)
                    throw Error("event channel " + std::to_string(p) + " is bound to domain " +
                                std::to_string(c.remote_dom) +
                                ": channels between guests cannot be saved yet");
                saved.status = EVTCHNSTAT_unbound;  // its backend binds it again
                saved.remote_dom = 0;
                break;
        }
        ports.push_back(saved);
    }
    return ports;
}

long EventChannelTable::restore_port(const SavedPort& saved) {
    if (saved.port == 0 || saved.port >= max_ports_ || saved.vcpu >= domain_.nr_vcpus())
        return -XEN_EINVAL;
    Channel ch{.notify_vcpu = saved.vcpu};
    switch (saved.status) {
        case EVTCHNSTAT_unbound:
            if (saved.remote_dom >= DOMID_FIRST_RESERVED) return -XEN_EINVAL;
            ch.state = State::Unbound;
            ch.remote_dom = saved.remote_dom;
            break;
        case EVTCHNSTAT_virq:
            if (saved.virq >= NR_VIRQS || (!virq_is_per_vcpu(saved.virq) && saved.vcpu != 0))
                return -XEN_EINVAL;
            ch.state = State::Virq;
            ch.virq = saved.virq;
            break;
        case EVTCHNSTAT_ipi:
            ch.state = State::Ipi;
            break;
        default:
            return -XEN_EINVAL;
    }
    std::lock_guard lock(mutex_);
    if (ch.state == State::Virq && virq_ports_[saved.vcpu][saved.virq] >= 0) return -XEN_EEXIST;
    while (nr_ports_.load() <= saved.port)
        if (!extend_locked()) return -XEN_EINVAL;
    Slot* s = slot(saved.port);
    std::lock_guard slot_lock(s->lock);
    if (s->ch.state != State::Free) return -XEN_EEXIST;
    s->ch = ch;
    if (ch.state == State::Virq)
        virq_ports_[saved.vcpu][saved.virq] = static_cast<int32_t>(saved.port);
    return 0;
}

void EventChannelTable::free_locked(uint32_t port, Channel& ch) {
    if (ch.state == State::Virq) virq_ports_[ch.notify_vcpu][ch.virq] = -1;
    if (ch.host) ch.host->event->detach();  // no stale backend may catch a reused port
    ch = Channel{};
    clear_pending(port);
}

long EventChannelTable::alloc_unbound(domid_t remote_dom) {
    if (remote_dom == DOMID_SELF) remote_dom = domain_.id();
    // As Xen, the remote domain need not exist yet: it binds later, once it does.
    if (remote_dom >= DOMID_FIRST_RESERVED) return -XEN_EINVAL;
    std::lock_guard lock(mutex_);
    return allocate_locked({.state = State::Unbound, .remote_dom = remote_dom});
}

long EventChannelTable::bind_virq(uint32_t virq, uint32_t vcpu) {
    if (virq >= NR_VIRQS) return -XEN_EINVAL;
    if (vcpu >= domain_.nr_vcpus()) return -XEN_ENOENT;
    if (!virq_is_per_vcpu(virq) && vcpu != 0) return -XEN_EINVAL;
    std::lock_guard lock(mutex_);
    if (virq_ports_[vcpu][virq] >= 0) return -XEN_EEXIST;
    long port = allocate_locked({.state = State::Virq, .notify_vcpu = vcpu, .virq = virq});
    if (port > 0) virq_ports_[vcpu][virq] = static_cast<int32_t>(port);
    return port;
}

long EventChannelTable::bind_ipi(uint32_t vcpu) {
    if (vcpu >= domain_.nr_vcpus()) return -XEN_ENOENT;
    std::lock_guard lock(mutex_);
    return allocate_locked({.state = State::Ipi, .notify_vcpu = vcpu});
}

long EventChannelTable::bind_interdomain(domid_t remote_dom, uint32_t remote_port) {
    if (remote_dom == DOMID_SELF) remote_dom = domain_.id();
    std::shared_ptr<Domain> remote = domain_.hypervisor().find(remote_dom);
    std::shared_ptr<Domain> self = domain_.hypervisor().find(domain_.id());
    if (!remote || !self) return -XEN_ESRCH;
    EventChannelTable& rt = remote->evtchn();
    // Both tables change together: their locks are taken with std::lock's deadlock
    // avoidance, so a concurrent bind in the other direction cannot deadlock.
    std::unique_lock<std::mutex> own(mutex_, std::defer_lock), other(rt.mutex_, std::defer_lock);
    if (&rt == this)
        own.lock();
    else
        std::lock(own, other);
    Slot* target = rt.slot(remote_port);
    if (!target) return -XEN_EINVAL;
    {
        std::lock_guard tl(target->lock);
        if (target->ch.state != State::Unbound || target->ch.remote_dom != domain_.id())
            return -XEN_EINVAL;
    }
    long port = allocate_locked({.state = State::Interdomain,
                                 .remote_dom = remote_dom,
                                 .remote_port = remote_port,
                                 .peer = remote});
    if (port < 0) return port;
    std::lock_guard tl(target->lock);
    target->ch.state = State::Interdomain;
    target->ch.remote_dom = domain_.id();
    target->ch.remote_port = static_cast<uint32_t>(port);
    target->ch.peer = self;
    return port;
}

long EventChannelTable::close(uint32_t port) {
    std::shared_ptr<Domain> peer;
    {
        Slot* s = slot(port);
        if (!s) return -XEN_EINVAL;
        std::lock_guard lock(s->lock);
        if (s->ch.state == State::Free || s->ch.state == State::Reserved) return -XEN_EINVAL;
        if (s->ch.state == State::Interdomain) peer = s->ch.peer.lock();
    }
    EventChannelTable* pt = peer ? &peer->evtchn() : nullptr;
    std::unique_lock<std::mutex> own(mutex_, std::defer_lock), other;
    if (pt && pt != this) {
        other = std::unique_lock<std::mutex>(pt->mutex_, std::defer_lock);
        std::lock(own, other);
    } else {
        own.lock();
    }
    // Looked at again under the table locks: the port may have changed meanwhile.
    Slot* s = slot(port);
    std::lock_guard lock(s->lock);
    Channel& c = s->ch;
    if (c.state == State::Free || c.state == State::Reserved) return -XEN_EINVAL;
    if (c.state == State::Interdomain && pt) {
        // The peer goes back to unbound, offered to us again, as in Xen.
        if (Slot* far = pt->slot(c.remote_port); far && far != s) {
            std::lock_guard fl(far->lock);
            if (far->ch.state == State::Interdomain && far->ch.remote_dom == domain_.id() &&
                far->ch.remote_port == port) {
                far->ch.state = State::Unbound;
                far->ch.remote_port = 0;
                far->ch.peer.reset();
            }
        }
    }
    free_locked(port, c);
    return 0;
}

void EventChannelTable::reset() {
    uint32_t n = nr_ports_.load();
    for (uint32_t port = 1; port < n; ++port) close(port);  // -EINVAL for free ports: fine
}

long EventChannelTable::bind_host(uint32_t port, std::shared_ptr<HostEndpoint>& endpoint) {
    std::lock_guard table(mutex_);
    Slot* s = slot(port);
    if (!s) return -XEN_EINVAL;
    std::lock_guard lock(s->lock);
    Channel& c = s->ch;
    if (c.state != State::Unbound || c.remote_dom != 0) return -XEN_EINVAL;
    endpoint =
        std::make_shared<HostEndpoint>(HostEndpoint{domain_.platform_vm().notify_endpoint(port)});
    c.state = State::Interdomain;
    c.remote_port = 0;
    c.host = endpoint;
    return 0;
}

void EventChannelTable::unbind_host(uint32_t port, const HostEndpoint& endpoint) {
    std::lock_guard table(mutex_);
    Slot* s = slot(port);
    if (!s) return;
    std::lock_guard lock(s->lock);
    Channel& c = s->ch;
    if (c.state != State::Interdomain || c.host.get() != &endpoint) return;  // guest closed it
    c.host->event->detach();
    c.host.reset();
    c.state = State::Unbound;
}

void EventChannelTable::notify_from_host(uint32_t port, const HostEndpoint& endpoint) {
    Slot* s = slot(port);
    if (!s) return;
    uint32_t vcpu;
    {
        std::lock_guard lock(s->lock);
        if (s->ch.state != State::Interdomain || s->ch.host.get() != &endpoint) return;
        vcpu = s->ch.notify_vcpu;
    }
    set_pending(port, vcpu);
}

long EventChannelTable::send(uint32_t port) {
    Slot* s = slot(port);
    if (!s) return -XEN_EINVAL;
    sends_.fetch_add(1, std::memory_order_relaxed);
    uint32_t target = 0;
    std::shared_ptr<Domain> peer;
    uint32_t peer_port = 0;
    {
        std::lock_guard lock(s->lock);
        const Channel& c = s->ch;
        switch (c.state) {
            case State::Ipi:
                target = c.notify_vcpu;
                break;
            case State::Interdomain:
                if (c.host) {  // a backend here: wake it (the notify port's slow path too)
                    uint64_t one = 1;
                    ssize_t rc = ::write(c.host->event->fd(), &one, sizeof one);
                    (void)rc;  // EAGAIN only when the counter is saturated: still awake
                    return 0;
                }
                peer = c.peer.lock();
                peer_port = c.remote_port;
                if (!peer) return 0;  // the peer is dying: nobody to tell, as in Xen
                break;
            case State::Unbound:
                return 0;  // nobody bound yet: dropped, as in Xen
            default:
                return -XEN_EINVAL;  // virqs are raised by the hypervisor only
        }
    }
    // Only one channel lock is ever held: a send never waits for a table.
    if (peer) {
        peer->evtchn().deliver(peer_port, domain_.id(), port);
        return 0;
    }
    set_pending(port, target);
    return 0;
}

void EventChannelTable::deliver(uint32_t port, domid_t from_dom, uint32_t from_port) {
    Slot* s = slot(port);
    if (!s) return;
    uint32_t vcpu;
    {
        std::lock_guard lock(s->lock);
        const Channel& c = s->ch;
        if (c.state != State::Interdomain || c.remote_dom != from_dom || c.remote_port != from_port)
            return;  // closed or rebound meanwhile
        vcpu = c.notify_vcpu;
    }
    set_pending(port, vcpu);
}

long EventChannelTable::status(evtchn_status_t& st) {
    domid_t dom = st.dom == DOMID_SELF ? domain_.id() : st.dom;
    if (dom != domain_.id()) return -XEN_ESRCH;  // only our own table is visible to us
    Slot* s = slot(st.port);
    if (!s) {
        if (st.port >= max_ports_) return -XEN_EINVAL;
        st.status = EVTCHNSTAT_closed;
        return 0;
    }
    std::lock_guard lock(s->lock);
    const Channel& c = s->ch;
    st.vcpu = c.notify_vcpu;
    switch (c.state) {
        case State::Free:
        case State::Reserved:
            st.status = EVTCHNSTAT_closed;
            break;
        case State::Unbound:
            st.status = EVTCHNSTAT_unbound;
            st.u.unbound.dom = c.remote_dom;
            break;
        case State::Virq:
            st.status = EVTCHNSTAT_virq;
            st.u.virq = c.virq;
            break;
        case State::Ipi:
            st.status = EVTCHNSTAT_ipi;
            break;
        case State::Interdomain:
            st.status = EVTCHNSTAT_interdomain;
            st.u.interdomain.dom = c.remote_dom;
            st.u.interdomain.port = c.remote_port;
            break;
    }
    return 0;
}

long EventChannelTable::bind_vcpu(uint32_t port, uint32_t vcpu) {
    if (vcpu >= domain_.nr_vcpus()) return -XEN_ENOENT;
    std::lock_guard table(mutex_);
    Slot* s = slot(port);
    if (!s) return -XEN_EINVAL;
    std::lock_guard lock(s->lock);
    Channel& c = s->ch;
    switch (c.state) {
        case State::Unbound:
        case State::Interdomain:
            c.notify_vcpu = vcpu;
            return 0;
        case State::Virq:
            if (virq_is_per_vcpu(c.virq)) return -XEN_EINVAL;
            c.notify_vcpu = vcpu;
            return 0;
        default:
            return -XEN_EINVAL;
    }
}

long EventChannelTable::unmask(uint32_t port) {
    Slot* s = slot(port);
    if (!s) return -XEN_EINVAL;
    uint32_t vcpu;
    {
        std::lock_guard lock(s->lock);
        if (s->ch.state == State::Free) return -XEN_EINVAL;
        vcpu = s->ch.notify_vcpu;
    }
    shared_info_t* si = domain_.shared_info();
    if (!si) return -XEN_EINVAL;
    unsigned word = port / kBitsPerWord, bit = port % kBitsPerWord;
    clear_bit(si->evtchn_mask[word], bit);
    // An event that arrived while masked is now deliverable (Xen's evtchn_2l_unmask).
    if (test_bit(si->evtchn_pending[word], bit)) {
        vcpu_info_t* vi = domain_.vcpu(vcpu).vcpu_info();
        if (vi && !test_and_set(vi->evtchn_pending_sel, word)) {
            std::atomic_ref<uint8_t>(vi->evtchn_upcall_pending).store(1);
            domain_.vcpu(vcpu).kick();
        }
    }
    return 0;
}

void EventChannelTable::raise_virq(uint32_t virq, uint32_t vcpu) {
    int32_t port;
    {
        std::lock_guard lock(mutex_);
        if (vcpu >= virq_ports_.size() || virq >= NR_VIRQS) return;
        port = virq_ports_[vcpu][virq];
    }
    if (port > 0) set_pending(static_cast<uint32_t>(port), vcpu);
}

bool EventChannelTable::is_pending(uint32_t port) const {
    if (port >= max_ports_) return false;
    shared_info_t* s = domain_.shared_info();
    return s && test_bit(s->evtchn_pending[port / kBitsPerWord], port % kBitsPerWord);
}

bool EventChannelTable::is_masked(uint32_t port) const {
    if (port >= max_ports_) return false;
    shared_info_t* s = domain_.shared_info();
    return s && test_bit(s->evtchn_mask[port / kBitsPerWord], port % kBitsPerWord);
}

void EventChannelTable::set_pending(uint32_t port, uint32_t vcpu) {
    shared_info_t* s = domain_.shared_info();
    if (!s) return;
    unsigned word = port / kBitsPerWord, bit = port % kBitsPerWord;
    Vcpu& v = domain_.vcpu(vcpu);
    // Pollers wait on the pending bit itself, masked or not.
    if (test_and_set(s->evtchn_pending[word], bit)) return;
    if (!test_bit(s->evtchn_mask[word], bit)) {
        vcpu_info_t* vi = v.vcpu_info();
        if (vi && !test_and_set(vi->evtchn_pending_sel, word))
            std::atomic_ref<uint8_t>(vi->evtchn_upcall_pending).store(1);
    }
    v.kick();
}

void EventChannelTable::clear_pending(uint32_t port) {
    shared_info_t* s = domain_.shared_info();
    if (s) clear_bit(s->evtchn_pending[port / kBitsPerWord], port % kBitsPerWord);
}

}  // namespace xenolith::hv
