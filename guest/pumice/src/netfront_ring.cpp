// The network frontend's frames (pumice/netfront.hpp): the receive ring kept full of
// granted pages, responses checked and handed to the stack, and transmit through pages
// granted for one frame each.
//
// Receive buffers are positional, as in Linux's frontend: the request at ring index i uses
// buffer i % kRxSlots, and the response at index i is read from that same buffer. The
// response's id is only compared, never used to find memory. Each buffer's grant is ended
// before its data is read: a backend that still holds it (GTF_writing) loses the page
// (it is abandoned, never reused) and the frame.
//
// Transmit slots are found by the response's id, checked against the slots in flight; a
// response naming another id breaks the device (it stops, and says so once).
#include <pumice/netfront.hpp>
#include <pumice/pumice.hpp>

namespace pumice::netfront {
namespace {

constexpr uint32_t kPage = mem::kPageSize;
static_assert((kRxSlots & (kRxSlots - 1)) == 0 && kTxSlots <= 65536);

xen_pfn_t pfn_of(const void* p) {
    return reinterpret_cast<uintptr_t>(p) / kPage;  // VA = PA, auto-translated
}

}  // namespace

struct Device::RxBuffer {
    uint8_t* page;
    grant_ref_t ref;
    bool granted;
};

struct Device::TxSlot {
    uint8_t* page;
    grant_ref_t ref;
    bool granted;
    bool in_flight;
};

Device::Stats Device::stats() const {
    Stats s;
    {
        IrqSpinGuard guard(rx_lock_);
        s = stats_;
    }
    IrqSpinGuard guard(tx_lock_);
    s.tx_frames = stats_.tx_frames;
    s.tx_bytes = stats_.tx_bytes;
    s.tx_errors = stats_.tx_errors;
    s.tx_dropped = stats_.tx_dropped;
    s.notifies = stats_.notifies;
    s.bad_responses = stats_.bad_responses;
    return s;
}

// ---- setup and teardown -----------------------------------------------------------------

long Device::init_tx_slots() {
    tx_slots_ = static_cast<TxSlot*>(calloc(kTxSlots, sizeof(TxSlot)));
    if (!tx_slots_) return -XEN_ENOMEM;
    tx_nfree_ = 0;
    for (uint32_t i = 0; i < kTxSlots; ++i) {
        tx_slots_[i].page = static_cast<uint8_t*>(mem::alloc_pages(1));
        if (!tx_slots_[i].page) return -XEN_ENOMEM;
    }
    for (uint32_t i = kTxSlots; i > 0; --i) tx_free_[tx_nfree_++] = static_cast<uint16_t>(i - 1);
    return 0;
}

long Device::fill_rx_ring() {
    rx_buffers_ = static_cast<RxBuffer*>(calloc(kRxSlots, sizeof(RxBuffer)));
    rx_frame_ = static_cast<uint8_t*>(malloc(kMaxFrame));
    if (!rx_buffers_ || !rx_frame_) return -XEN_ENOMEM;
    for (uint32_t i = 0; i < kRxSlots; ++i) {
        rx_buffers_[i].page = static_cast<uint8_t*>(mem::alloc_pages(1));
        if (!rx_buffers_[i].page) return -XEN_ENOMEM;
    }
    rx_frame_len_ = rx_frame_slots_ = rx_extras_ = 0;
    rx_frame_bad_ = false;
    IrqSpinGuard guard(rx_lock_);
    refill_rx_locked();
    if (rx_.req_prod_pvt != kRxSlots) return -XEN_ENOSPC;  // no grant refs left
    // The backend has not bound the channel yet: it reads req_prod when it connects.
    RING_PUSH_REQUESTS(&rx_);
    return 0;
}

// Ends every grant and frees the pages whose grant ended (a page the backend still has
// access to is abandoned).
void Device::end_all_grants() {
    uint32_t kept = 0;
    if (rx_buffers_) {
        for (uint32_t i = 0; i < kRxSlots; ++i) {
            RxBuffer& b = rx_buffers_[i];
            if (!b.page) continue;
            if (b.granted && !end_rx_grant(b)) ++kept;
            if (b.page) mem::free_pages(b.page, 1);
        }
        free(rx_buffers_);
        rx_buffers_ = nullptr;
    }
    if (tx_slots_) {
        for (uint32_t i = 0; i < kTxSlots; ++i) {
            TxSlot& t = tx_slots_[i];
            if (!t.page) continue;
            if (t.granted && !end_tx_grant(t)) ++kept;
            if (t.page) mem::free_pages(t.page, 1);
        }
        free(tx_slots_);
        tx_slots_ = nullptr;
    }
    tx_nfree_ = 0;
    free(rx_frame_);
    rx_frame_ = nullptr;
    if (kept)
        printf("netfront: %s: backend still holds %u buffers; they are not reused\n", name_, kept);
}

// ---- events -----------------------------------------------------------------------------

void Device::on_event(evtchn_port_t, void* arg) {
    auto* dev = static_cast<Device*>(arg);
    bool notify = false;
    {
        IrqSpinGuard guard(dev->tx_lock_);
        if (dev->state() == State::connected) dev->handle_tx_locked();
    }
    {
        IrqSpinGuard guard(dev->rx_lock_);
        if (dev->state() == State::connected) dev->handle_rx_locked(notify);
        if (notify) __atomic_add_fetch(&dev->stats_.notifies, 1, __ATOMIC_RELAXED);
    }
    if (notify) events::notify(dev->xb_.port());
}

void Device::break_device(const char* why, uint32_t id, int32_t status) {
    if (state() != State::connected) return;
    set_state(State::broken);
    __atomic_add_fetch(&stats_.bad_responses, 1, __ATOMIC_RELAXED);
    printf("netfront: %s: %s (id=%u status=%d): device disabled\n", name_, why, id, status);
}

// ---- receive ----------------------------------------------------------------------------

// Grants buffer index % kRxSlots to the backend and puts its request in slot `index`.
bool Device::post_rx_locked(RING_IDX index) {
    const uint32_t id = index % kRxSlots;
    RxBuffer& b = rx_buffers_[id];
    if (!b.page) {  // abandoned earlier: try for a new page
        b.page = static_cast<uint8_t*>(mem::alloc_pages(1));
        if (!b.page) return false;
    }
    long ref = grant::grant_access(xb_.backend_id(), pfn_of(b.page), false);
    if (ref < 0) return false;
    b.ref = static_cast<grant_ref_t>(ref);
    b.granted = true;
    netif_rx_request_t* req = RING_GET_REQUEST(&rx_, index);
    req->id = static_cast<uint16_t>(id);
    req->gref = b.ref;
    return true;
}

// Posts a buffer in every slot the backend does not hold (it holds [rsp_cons, req_prod_pvt)).
void Device::refill_rx_locked() {
    while (rx_.req_prod_pvt - rx_.rsp_cons < kRxSlots) {
        if (!post_rx_locked(rx_.req_prod_pvt)) break;  // retried at the next event
        ++rx_.req_prod_pvt;
    }
}

// false when the backend still has access (the page is then given up: the backend may
// write into it at any time).
bool Device::end_rx_grant(RxBuffer& b) {
    b.granted = false;
    if (grant::end_access(b.ref) == 0) return true;
    __atomic_add_fetch(&stats_.bad_responses, 1, __ATOMIC_RELAXED);
    b.page = nullptr;
    return false;
}

void Device::handle_rx_locked(bool& notify) {
    for (;;) {
        RING_IDX rp = __atomic_load_n(&rx_.sring->rsp_prod, __ATOMIC_ACQUIRE);
        if (rp - rx_.rsp_cons > rx_.req_prod_pvt - rx_.rsp_cons) {
            break_device("rx responses beyond the requests posted", rp, 0);
            return;
        }
        if (rx_.rsp_cons != rp) ++stats_.rx_passes;
        while (rx_.rsp_cons != rp) {
            RING_IDX index = rx_.rsp_cons;
            netif_rx_response_t rsp;
            memcpy(&rsp, RING_GET_RESPONSE(&rx_, index), sizeof(rsp));
            ++rx_.rsp_cons;
            take_rx_slot_locked(rsp, index);
        }
        int more;
        RING_FINAL_CHECK_FOR_RESPONSES(&rx_, more);
        if (!more) break;
    }
    refill_rx_locked();
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&rx_, notify);
}

// One response slot: an extra-info slot (skipped: Pumice asks for no GSO, hash or
// multicast control), or a piece of a frame. Returns whether its data was usable.
bool Device::take_rx_slot_locked(const netif_rx_response_t& rsp, RING_IDX index) {
    const uint32_t id = index % kRxSlots;
    RxBuffer& b = rx_buffers_[id];
    const bool readable = b.granted && end_rx_grant(b);
    if (rx_extras_) {
        // netif_extra_info overlays the response: only its flags matter here.
        netif_extra_info_t extra;
        memcpy(&extra, &rsp, sizeof(extra) < sizeof(rsp) ? sizeof(extra) : sizeof(rsp));
        --rx_extras_;
        if ((extra.flags & XEN_NETIF_EXTRA_FLAG_MORE) && rx_frame_slots_ < kMaxRxSlotsPerFrame) {
            ++rx_extras_;
            ++rx_frame_slots_;
        }
        return true;
    }
    const bool last = !(rsp.flags & NETRXF_more_data);
    bool ok = readable;
    if (rsp.id != id || rsp.status < 0 || rsp.offset >= kPage ||
        static_cast<uint32_t>(rsp.status) > kPage - rsp.offset) {
        if (rsp.id != id) __atomic_add_fetch(&stats_.bad_responses, 1, __ATOMIC_RELAXED);
        ok = false;
    }
    if (rsp.flags & NETRXF_extra_info) rx_extras_ = 1;
    if (!ok) {
        ++stats_.rx_errors;
        rx_frame_bad_ = true;
    }
    const uint8_t* data = ok ? b.page + rsp.offset : nullptr;
    uint32_t size = ok ? static_cast<uint32_t>(rsp.status) : 0;
    if (rx_frame_slots_ == 0 && last && ok) {
        deliver_rx_locked(data, size);  // the common case: one slot, no copy here
        rx_frame_bad_ = false;
        return true;
    }
    append_rx_locked(data, size, last);
    return ok;
}

// Gathers one more piece of a multi-slot frame; delivers it with its last piece.
void Device::append_rx_locked(const uint8_t* data, uint32_t size, bool last) {
    if (++rx_frame_slots_ > kMaxRxSlotsPerFrame || size > kMaxFrame - rx_frame_len_) {
        if (!rx_frame_bad_) ++stats_.rx_errors;
        rx_frame_bad_ = true;
    }
    if (!rx_frame_bad_ && size) {
        memcpy(rx_frame_ + rx_frame_len_, data, size);
        rx_frame_len_ += size;
    }
    if (!last) return;
    if (!rx_frame_bad_) deliver_rx_locked(rx_frame_, rx_frame_len_);
    rx_frame_len_ = rx_frame_slots_ = 0;
    rx_frame_bad_ = false;
}

void Device::deliver_rx_locked(const uint8_t* frame, uint32_t size) {
    if (interface_ && interface_->receive(frame, size)) {
        ++stats_.rx_frames;
        stats_.rx_bytes += size;
    } else {
        ++stats_.rx_dropped;
    }
}

// ---- transmit ---------------------------------------------------------------------------

bool Device::transmit(const net::Frame& frame) {
    bool notify = false;
    long rc;
    {
        IrqSpinGuard guard(tx_lock_);
        rc = push_tx_locked(frame, frame.size(), notify);
        if (rc < 0) ++stats_.tx_dropped;
        if (notify) __atomic_add_fetch(&stats_.notifies, 1, __ATOMIC_RELAXED);
    }
    if (notify) events::notify(xb_.port());
    return rc == 0;
}

void Device::begin_batch() {
    IrqSpinGuard guard(tx_lock_);
    tx_batch_ = true;
}

void Device::end_batch() {
    bool notify = false;
    {
        IrqSpinGuard guard(tx_lock_);
        tx_batch_ = false;
        if (state() == State::connected) RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&tx_, notify);
        if (notify) __atomic_add_fetch(&stats_.notifies, 1, __ATOMIC_RELAXED);
    }
    if (notify) events::notify(xb_.port());
}

// Copies the frame into free slots' pages (one page per slot), grants each read-only and
// queues the requests: the first carries the frame's total size, each slot but the last
// NETTXF_more_data.
long Device::push_tx_locked(const net::Frame& frame, size_t size, bool& notify) {
    if (state() != State::connected) return -XEN_ENODEV;
    const uint32_t slots = static_cast<uint32_t>((size + kPage - 1) / kPage);
    if (size == 0 || size > kMaxFrame || (slots > 1 && !backend_sg_)) return -XEN_EMSGSIZE;
    handle_tx_locked();  // slots are reclaimed here, not on an event of their own
    if (state() != State::connected) return -XEN_ENODEV;
    if (tx_nfree_ < slots || RING_FREE_REQUESTS(&tx_) < slots) {
        // Requests held back for the batch's end would never be answered: push them now.
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&tx_, notify);
        return -XEN_ENOSPC;
    }

    uint16_t ids[XEN_NETIF_NR_SLOTS_MIN + 1];
    if (slots > XEN_NETIF_NR_SLOTS_MIN) return -XEN_EMSGSIZE;
    for (uint32_t i = 0; i < slots; ++i) {
        uint16_t id = tx_free_[tx_nfree_ - 1 - i];
        TxSlot& t = tx_slots_[id];
        long ref =
            t.page ? grant::grant_access(xb_.backend_id(), pfn_of(t.page), true) : -XEN_ENOMEM;
        if (ref < 0) {
            for (uint32_t j = 0; j < i; ++j) end_tx_grant(tx_slots_[ids[j]]);
            return ref;
        }
        t.ref = static_cast<grant_ref_t>(ref);
        t.granted = true;
        ids[i] = id;
    }
    tx_nfree_ -= slots;
    size_t offset = 0;
    for (uint32_t i = 0; i < slots; ++i) {
        TxSlot& t = tx_slots_[ids[i]];
        size_t piece = frame.copy_to(t.page, kPage, offset);
        t.in_flight = true;
        netif_tx_request_t* req = RING_GET_REQUEST(&tx_, tx_.req_prod_pvt);
        req->gref = t.ref;
        req->offset = 0;
        req->flags = i + 1 < slots ? NETTXF_more_data : 0;
        req->id = ids[i];
        req->size = static_cast<uint16_t>(i == 0 ? size : piece);
        ++tx_.req_prod_pvt;
        offset += piece;
    }
    if (!tx_batch_) RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&tx_, notify);
    ++stats_.tx_frames;
    stats_.tx_bytes += size;
    return 0;
}

void Device::handle_tx_locked() {
    for (;;) {
        RING_IDX rp = __atomic_load_n(&tx_.sring->rsp_prod, __ATOMIC_ACQUIRE);
        if (rp - tx_.rsp_cons > tx_.req_prod_pvt - tx_.rsp_cons) {
            break_device("tx responses beyond the requests pushed", rp, 0);
            return;
        }
        while (tx_.rsp_cons != rp) {
            netif_tx_response_t rsp;
            memcpy(&rsp, RING_GET_RESPONSE(&tx_, tx_.rsp_cons), sizeof(rsp));
            ++tx_.rsp_cons;
            if (!reclaim_tx_locked(rsp)) return;
        }
        // Answered slots are reclaimed by the next transmit (or any event), so an event per
        // batch of tx responses would only wake the vCPU, an exit each on the process
        // platform. Ask for one only once half the ring waits to be reclaimed. Then look
        // again, as RING_FINAL_CHECK_FOR_RESPONSES does, for responses pushed meanwhile.
        tx_.sring->rsp_event = tx_.rsp_cons + kTxSlots / 2;
        xen_mb();
        if (__atomic_load_n(&tx_.sring->rsp_prod, __ATOMIC_ACQUIRE) == tx_.rsp_cons) break;
    }
}

// Ends a transmitted slot's grant and frees it. false (device broken) for an id that is
// not in flight.
bool Device::reclaim_tx_locked(const netif_tx_response_t& rsp) {
    if (rsp.status == NETIF_RSP_NULL) return true;  // the slot of an extra-info request
    if (rsp.id >= kTxSlots || !tx_slots_[rsp.id].in_flight) {
        break_device("bad tx response", rsp.id, rsp.status);
        return false;
    }
    if (rsp.status != NETIF_RSP_OKAY) ++stats_.tx_errors;
    TxSlot& t = tx_slots_[rsp.id];
    t.in_flight = false;
    end_tx_grant(t);
    if (!t.page) t.page = static_cast<uint8_t*>(mem::alloc_pages(1));
    tx_free_[tx_nfree_++] = rsp.id;  // a slot without a page fails its next grant cleanly
    return true;
}

// false when the backend still has the page mapped: the page is then given up.
bool Device::end_tx_grant(TxSlot& t) {
    t.granted = false;
    if (grant::end_access(t.ref) == 0) return true;
    __atomic_add_fetch(&stats_.bad_responses, 1, __ATOMIC_RELAXED);
    t.page = nullptr;
    return false;
}

}  // namespace pumice::netfront
