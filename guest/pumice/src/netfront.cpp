// The network frontend's connection (pumice/netfront.hpp): finding the vif, the xenbus
// handshake with its backend, the two rings and the event channel it publishes, and the two
// ways a connection ends (close(), or the backend closing it: hot-unplug). Frames are in
// netfront_ring.cpp.
#include <pumice/netfront.hpp>
#include <pumice/pumice.hpp>

namespace pumice::netfront {
namespace {

using xenbus::read_u64;
using xenbus::read_u64_or;
using xenbus::write_u64;

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

bool parse_mac(const char* text, net::MacAddress* out) {
    net::MacAddress mac;
    for (unsigned i = 0; i < 6; ++i) {
        const char* p = text + 3 * i;
        int hi = hex_digit(p[0]);
        int lo = hi < 0 ? -1 : hex_digit(p[1]);
        char sep = lo < 0 ? 'x' : p[2];
        if (lo < 0 || sep != (i == 5 ? '\0' : ':')) return false;
        mac.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    *out = mac;
    return true;
}

long list(uint32_t* devids, size_t max) {
    return xenbus::list_devices("device/vif", devids, max);
}

Device::~Device() {
    close();
}

bool Device::connected() const {
    return state() == State::connected;
}

void Device::attach(net::Interface& interface) {
    IrqSpinGuard guard(rx_lock_);
    interface_ = &interface;
}

long Device::open(uint32_t devid, uint64_t timeout_ns) {
    char dir[xenbus::kFrontendDirMax];
    snprintf(dir, sizeof(dir), "device/vif/%u", devid);
    return open(dir, timeout_ns);
}

long Device::open(const char* dir, uint64_t timeout_ns) {
    if (state() != State::closed) return -XEN_EBUSY;
    if (!xenstore::available()) return -XEN_ENODEV;
    if (long rc = xb_.set_dir(dir)) return rc;
    stats_ = Stats{};
    if (long rc = read_frontend()) return rc;
    long rc = connect(time::now_ns() + timeout_ns);
    if (rc < 0) {
        xb_.give_up();
        release_connection();
    }
    return rc;
}

// What the toolstack wrote for us: the backend's directory and id, our MAC.
long Device::read_frontend() {
    const char* dir = xb_.dir();
    uint64_t handle;
    devid_ = read_u64(dir, "handle", &handle) == 0 && handle <= UINT32_MAX
                 ? static_cast<uint32_t>(handle)
                 : xenbus::trailing_number(dir);
    snprintf(name_, sizeof(name_), "vif%u", devid_);
    if (long rc = xb_.read_backend()) return rc;

    char path[xenbus::kNodePathMax], mac[24];
    if (!xenbus::node_path(path, dir, "mac")) return -XEN_ENAMETOOLONG;
    long rc = xenstore::read(path, mac, sizeof(mac));
    if (rc < 0 || !parse_mac(mac, &mac_)) {
        printf("netfront: %s: no valid mac in %s (rc=%ld)\n", name_, path, rc < 0 ? rc : 0);
        return -XEN_EINVAL;
    }
    return 0;
}

// The handshake (netif.h, "Startup"), from Initialising to Connected.
long Device::connect(uint64_t deadline) {
    if (long rc = xb_.begin(deadline)) return rc;
    // netif.h: without feature-rx-copy the backend could only flip pages, which Pumice
    // does not do.
    const char* be_dir = xb_.backend_dir();
    if (read_u64_or(be_dir, "feature-rx-copy", 0) == 0) {
        printf("netfront: %s: backend %s does not offer feature-rx-copy\n", name_, be_dir);
        return -XEN_EOPNOTSUPP;
    }
    backend_sg_ = read_u64_or(be_dir, "feature-sg", 0) != 0;
    if (long rc = setup_rings()) return rc;
    if (long rc = publish()) return rc;
    if (long rc = xb_.initialised(deadline)) return rc;
    set_state(State::connected);
    if (long rc = xb_.connected()) return rc;
    // The backend may have answered (or closed) before the handler could see it.
    on_event(xb_.port(), this);
    return 0;
}

// Both rings (a page each, granted to the backend), an unbound event channel for the
// backend to bind, and the receive ring filled with buffers.
long Device::setup_rings() {
    rx_ring_page_ = mem::alloc_pages(1);
    tx_ring_page_ = mem::alloc_pages(1);
    if (!rx_ring_page_ || !tx_ring_page_) return -XEN_ENOMEM;
    memset(rx_ring_page_, 0, mem::kPageSize);
    memset(tx_ring_page_, 0, mem::kPageSize);
    auto* rx_sring = static_cast<netif_rx_sring_t*>(rx_ring_page_);
    auto* tx_sring = static_cast<netif_tx_sring_t*>(tx_ring_page_);
    SHARED_RING_INIT(rx_sring);
    SHARED_RING_INIT(tx_sring);
    FRONT_RING_INIT(&rx_, rx_sring, mem::kPageSize);
    FRONT_RING_INIT(&tx_, tx_sring, mem::kPageSize);

    long ref = grant::grant_access(xb_.backend_id(),
                                   reinterpret_cast<uintptr_t>(rx_ring_page_) >> 12, false);
    if (ref < 0) return ref;
    rx_ring_ref_ = static_cast<grant_ref_t>(ref);
    rx_ring_granted_ = true;
    ref = grant::grant_access(xb_.backend_id(), reinterpret_cast<uintptr_t>(tx_ring_page_) >> 12,
                              false);
    if (ref < 0) return ref;
    tx_ring_ref_ = static_cast<grant_ref_t>(ref);
    tx_ring_granted_ = true;

    if (long rc = xb_.bind_event_channel(on_event, this)) return rc;
    if (long rc = init_tx_slots()) return rc;
    return fill_rx_ring();
}

// The transport parameters, in one transaction (rewritten whole on a conflict).
long Device::publish() {
    const char* dir = xb_.dir();
    return xenstore::transaction([this, dir](xenstore::Transaction t) -> long {
        long rc = write_u64(dir, "tx-ring-ref", tx_ring_ref_, t);
        if (rc == 0) rc = write_u64(dir, "rx-ring-ref", rx_ring_ref_, t);
        if (rc == 0) rc = write_u64(dir, "event-channel", xb_.port(), t);
        if (rc == 0) rc = write_u64(dir, "request-rx-copy", 1, t);
        // We post receive buffers promptly and notify when the backend asks (req_event).
        if (rc == 0) rc = write_u64(dir, "feature-rx-notify", 1, t);
        // Received frames may span several slots (gathered in rx_frame_).
        if (rc == 0) rc = write_u64(dir, "feature-sg", 1, t);
        // lwIP checks and computes every checksum itself.
        if (rc == 0) rc = write_u64(dir, "feature-no-csum-offload", 1, t);
        return rc;
    });
}

// The backend (or the toolstack for it) closing a connected vif: hot-unplug (see
// xenbus::Frontend::GoneFn). The stack's interface stays; transmit() drops from now on.
bool Device::on_backend_gone(void* arg, long backend_state) {
    auto* dev = static_cast<Device*>(arg);
    State was = dev->state();
    if (was != State::connected && was != State::broken) return false;
    dev->set_state(State::gone);
    printf("netfront: %s: backend is %s: device gone\n", dev->name_,
           backend_state < 0 ? "unreadable" : xenbus::state_name(backend_state));
    return true;
}

long Device::close() {
    if (state() == State::closed) return 0;
    xb_.stop_watch();
    if (state() != State::broken) set_state(State::gone);
    long rc = xb_.close_handshake();
    release_connection();
    return rc;
}

// Frees what a connection (or a failed open) holds: the event channel, the buffers and
// their grants, the rings. Pages the backend still has granted are reported and kept.
void Device::release_connection() {
    xb_.stop_watch();
    set_state(State::closed);
    // A handler already past its state check finishes before the buffers go.
    { IrqSpinGuard rx(rx_lock_); }
    { IrqSpinGuard tx(tx_lock_); }
    xb_.free_event_channel();
    end_all_grants();
    free_rings();
}

void Device::free_rings() {
    bool leaked = false;
    if (rx_ring_granted_ && grant::end_access(rx_ring_ref_) < 0) leaked = true;
    if (tx_ring_granted_ && grant::end_access(tx_ring_ref_) < 0) leaked = true;
    rx_ring_granted_ = tx_ring_granted_ = false;
    if (leaked) {
        printf("netfront: %s: backend still maps a ring; its pages are not reused\n", name_);
    } else {
        if (rx_ring_page_) mem::free_pages(rx_ring_page_, 1);
        if (tx_ring_page_) mem::free_pages(tx_ring_page_, 1);
    }
    rx_ring_page_ = tx_ring_page_ = nullptr;
    rx_ = netif_rx_front_ring_t{};
    tx_ = netif_tx_front_ring_t{};
}

}  // namespace pumice::netfront
