// The block frontend's requests (pumice/blkfront.hpp): an Io is split into ring requests
// of at most info().segments_per_request pages (11 direct, or up to 256 through an
// indirect descriptor page), each request's pages are granted (from the persistent pool,
// or per request), and responses are checked and completed from the event handler.
//
// Locking: lock_ (with events masked, as the handler also takes it) guards the ring
// indices, the table of requests in flight, the pool and state_. Lock order: lock_, then
// the grant table's, a CompletionQueue's or a WaitQueue's lock. Waiting is never done
// holding lock_: a submitter that finds no ring slot, grant or pool page notes
// space_epoch_, drops the lock and sleeps until a completion moves the epoch.
#include <pumice/blkfront.hpp>
#include <pumice/pumice.hpp>

namespace pumice::blkfront {
namespace {

constexpr uint32_t kPage = mem::kPageSize;
constexpr uint32_t kSegmentsPerIndirectPage = kPage / sizeof(blkif_request_segment);

static_assert(sizeof(blkif_request_indirect_t) <= sizeof(blkif_request_t));
static_assert(sizeof(blkif_request_discard_t) <= sizeof(blkif_request_t));
static_assert(kMaxIndirectSegments <=
              BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * kSegmentsPerIndirectPage);
static_assert(kMaxIndirectSegments + BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST <= kMaxPersistentGrants);

xen_pfn_t pfn_of(const void* p) {
    return reinterpret_cast<uintptr_t>(p) / kPage;  // VA = PA, auto-translated
}

uint32_t div_up(uint32_t a, uint32_t b) {
    return (a + b - 1) / b;
}

uint32_t page_offset(const void* p) {
    return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p) % kPage);
}

}  // namespace

// A data or indirect page granted once and kept for the connection (feature-persistent).
struct Device::PoolPage {
    uint8_t* va;
    grant_ref_t ref;
    PoolPage* next;      // in pool_free_
    PoolPage* all_next;  // in pool_all_
};

// One page a request hands the backend.
struct Device::Page {
    uint8_t* va;  // what the backend sees through ref
    grant_ref_t ref;
    PoolPage* pooled;  // from the persistent pool: goes back to it
    bool owned;        // a bounce or indirect page allocated for this request
    bool granted;      // a grant of this request's own, ended when it completes
};

// One ring request in flight (its id is its index in inflight_).
struct Device::Request {
    Io* io;
    uint8_t op;       // what the slot says: BLKIF_OP_INDIRECT for indirect requests
    uint8_t data_op;  // BLKIF_OP_READ/WRITE/FLUSH_DISKCACHE/WRITE_BARRIER/DISCARD
    uint64_t sector;
    uint8_t* user;  // the caller's bytes (read/write)
    uint32_t bytes;
    bool copy;  // the data goes through pages of ours (pool or bounce), not the caller's
    uint32_t nseg;
    uint32_t nind;
    Page* pages;                 // nseg, in the same allocation
    blkif_request_segment* seg;  // nseg, in the same allocation
    Page ind[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
};

namespace {

// A Request with room for nseg pages and segment descriptors, zeroed.
template <typename Request, typename Page>
Request* alloc_request(uint32_t nseg) {
    size_t size = sizeof(Request) + nseg * (sizeof(Page) + sizeof(blkif_request_segment));
    auto* r = static_cast<Request*>(calloc(1, size));
    if (!r) return nullptr;
    r->pages = reinterpret_cast<Page*>(r + 1);
    r->seg = reinterpret_cast<blkif_request_segment*>(r->pages + nseg);
    r->nseg = nseg;
    return r;
}

}  // namespace

// ---- completion queues -----------------------------------------------------------------

// Every access to the list happens under wq_'s lock (post through notify_all, pop inside
// a wait predicate), so an Io taken from the queue is never touched by its poster again
// and the queue may be destroyed as soon as its last Io is taken.
void CompletionQueue::post(Io* io) {
    wq_.notify_all([this, io] {
        io->next_ = nullptr;
        if (tail_)
            tail_->next_ = io;
        else
            head_ = io;
        tail_ = io;
        __atomic_store_n(&io->done_, true, __ATOMIC_RELEASE);
    });
}

Io* CompletionQueue::pop() {
    Io* io = head_;
    if (io) {
        head_ = io->next_;
        if (!head_) tail_ = nullptr;
        io->next_ = nullptr;
    }
    return io;
}

Io* CompletionQueue::wait() {
    Io* io = nullptr;
    wq_.wait_until([this, &io] { return (io = pop()) != nullptr; });
    return io;
}

Io* CompletionQueue::poll() {
    Io* io = nullptr;
    wq_.wait_until([this, &io] {
        io = pop();
        return true;  // never blocks: only takes the queue's lock
    });
    return io;
}

// ---- the public calls -------------------------------------------------------------------

long Device::read(uint64_t sector, void* buf, uint64_t nsectors) {
    Io io;
    io.op = Op::read;
    io.sector = sector;
    io.nsectors = nsectors;
    io.buf = buf;
    return sync(io);
}

long Device::write(uint64_t sector, const void* buf, uint64_t nsectors) {
    Io io;
    io.op = Op::write;
    io.sector = sector;
    io.nsectors = nsectors;
    io.buf = const_cast<void*>(buf);  // only read from (and granted read-only)
    return sync(io);
}

long Device::flush() {
    Io io;
    io.op = Op::flush;
    return sync(io);
}

long Device::discard(uint64_t sector, uint64_t nsectors, bool secure) {
    Io io;
    io.op = Op::discard;
    io.sector = sector;
    io.nsectors = nsectors;
    io.secure = secure;
    return sync(io);
}

long Device::sync(Io& io) {
    long rc = submit(io);
    return rc < 0 ? rc : wait(io);
}

long Device::wait(Io& io) {
    if (io.cq) return -XEN_EINVAL;  // it completes onto its queue: take it from there
    done_wq_.wait_until([&io] { return io.done(); });
    return io.result;
}

Device::Stats Device::stats() const {
    IrqSpinGuard guard(lock_);
    return stats_;
}

long Device::state_error_locked() const {
    switch (state_) {
        case State::connected:
            return 0;
        case State::broken:
            return -XEN_EIO;
        default:
            return -XEN_ENODEV;
    }
}

long Device::check_range(uint64_t sector, uint64_t nsectors) const {
    if (nsectors == 0 || nsectors > (UINT64_MAX / kSectorSize)) return -XEN_EINVAL;
    if (sector > info_.sectors || nsectors > info_.sectors - sector) return -XEN_EINVAL;
    return 0;
}

long Device::check_io(const Io& io) const {
    switch (io.op) {
        case Op::read:
        case Op::write:
            if (!io.buf) return -XEN_EINVAL;
            if (io.op == Op::write && info_.readonly && check_readonly_) return -XEN_EROFS;
            return check_range(io.sector, io.nsectors);
        case Op::flush:
            return info_.flush || info_.barrier ? 0 : -XEN_EOPNOTSUPP;
        case Op::discard:
            if (!info_.discard || (io.secure && !info_.discard_secure)) return -XEN_EOPNOTSUPP;
            if (info_.readonly && check_readonly_) return -XEN_EROFS;
            return check_range(io.sector, io.nsectors);
    }
    return -XEN_EINVAL;
}

long Device::submit(Io& io) {
    return submit_one(io, true);
}

size_t Device::submit(Io* const* ios, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (long rc = submit_one(*ios[i], i + 1 == n); rc < 0) {
            ios[i]->result = rc;
            publish();  // what the earlier ones wrote
            return i;
        }
    }
    return n;
}

// publish: make the ring requests visible to the backend (and notify it if it asks) after
// the last part; otherwise they wait for a later publish.
long Device::submit_one(Io& io, bool publish) {
    {
        IrqSpinGuard guard(lock_);
        if (long rc = state_error_locked()) return rc;
    }
    if (long rc = check_io(io)) return rc;
    io.result = 0;
    io.done_ = false;
    io.next_ = nullptr;
    io.parts_ = 1;  // submit's own reference: the Io cannot complete while parts are added
    long rc = 0;
    if (io.op == Op::flush || io.op == Op::discard) {
        rc = submit_part(io, io.sector, nullptr, 0, publish);
        if (rc < 0) return rc;
    } else {
        auto* p = static_cast<uint8_t*>(io.buf);
        uint64_t sector = io.sector;
        uint64_t left = io.nsectors * kSectorSize;
        bool first = true;
        while (left) {
            uint32_t bytes = part_bytes(p, left);
            rc = submit_part(io, sector, p, bytes, publish && bytes == left);
            if (rc < 0) {
                if (first) return rc;  // nothing queued: the Io will not complete
                long zero = 0;         // the parts queued complete it, with this error
                __atomic_compare_exchange_n(&io.result, &zero, rc, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE);
                if (publish) this->publish();  // the parts written so far
                break;
            }
            first = false;
            p += bytes;
            sector += bytes / kSectorSize;
            left -= bytes;
        }
    }
    finish_part(io, 0);  // drop submit's reference
    return 0;
}

// How many of the `left` bytes at p one ring request carries: whole pages of ours when
// copying, else the caller's pages from p's offset on.
uint32_t Device::part_bytes(const uint8_t* p, uint64_t left) const {
    bool copy = info_.persistent || reinterpret_cast<uintptr_t>(p) % kSectorSize;
    uint64_t max =
        static_cast<uint64_t>(info_.segments_per_request) * kPage - (copy ? 0 : page_offset(p));
    return static_cast<uint32_t>(left < max ? left : max);
}

// ---- building and pushing a request ---------------------------------------------------

long Device::submit_part(Io& io, uint64_t sector, uint8_t* buf, uint32_t bytes, bool publish) {
    bool rw = io.op == Op::read || io.op == Op::write;
    bool copy = rw && (info_.persistent || reinterpret_cast<uintptr_t>(buf) % kSectorSize);
    uint32_t nseg = 0;
    if (rw) nseg = copy ? div_up(bytes, kPage) : div_up(page_offset(buf) + bytes, kPage);
    uint32_t nind =
        nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST ? div_up(nseg, kSegmentsPerIndirectPage) : 0;
    auto* r = alloc_request<Request, Page>(nseg);
    if (!r) return -XEN_ENOMEM;
    r->io = &io;
    r->sector = sector;
    r->user = buf;
    r->bytes = bytes;
    r->copy = copy;
    r->nind = nind;
    switch (io.op) {
        case Op::read:
            r->data_op = BLKIF_OP_READ;
            break;
        case Op::write:
            r->data_op = BLKIF_OP_WRITE;
            break;
        case Op::flush:
            r->data_op = info_.flush ? BLKIF_OP_FLUSH_DISKCACHE : BLKIF_OP_WRITE_BARRIER;
            break;
        case Op::discard:
            r->data_op = BLKIF_OP_DISCARD;
            break;
    }
    r->op = nind ? static_cast<uint8_t>(BLKIF_OP_INDIRECT) : r->data_op;
    if (nseg) {
        if (long rc = attach_pages(*r)) {
            free(r);
            return rc;
        }
        fill_segments(*r);
    }
    __atomic_add_fetch(&io.parts_, 1, __ATOMIC_ACQ_REL);  // before the handler can see it
    long rc = push(*r, publish);
    if (rc < 0) {
        __atomic_sub_fetch(&io.parts_, 1, __ATOMIC_ACQ_REL);  // submit's reference keeps it > 0
        {
            IrqSpinGuard guard(lock_);
            release_pages(*r);
        }
        free(r);
    }
    return rc;  // after a successful push r belongs to the handler: not touched again
}

// Gets the request's data and indirect pages granted, waiting while requests in flight
// hold the grants or pool pages it needs.
long Device::attach_pages(Request& r) {
    for (;;) {
        uint64_t seen = space_epoch();
        long rc = info_.persistent ? take_pool(r) : grant_pages(r);
        if (rc != -XEN_ENOSPC && rc != -XEN_ENOMEM && rc != -XEN_EAGAIN) return rc;
        {
            IrqSpinGuard guard(lock_);
            if (long e = state_error_locked()) return e;
            bool more_coming = nfree_ids_ != info_.ring_slots;
            if (!more_coming && space_epoch() == seen) return rc == -XEN_EAGAIN ? -XEN_ENOSPC : rc;
        }
        wait_for_space(seen);
    }
}

// Page i of the request: data pages first, then indirect pages.
Device::Page& Device::request_page(Request& r, uint32_t i) {
    return i < r.nseg ? r.pages[i] : r.ind[i - r.nseg];
}

// Persistent mode: nseg + nind pages from the pool (LIFO), growing it up to pool_cap_.
// -XEN_EAGAIN when the pool is all in use; -XEN_ENOSPC when it cannot grow enough.
long Device::take_pool(Request& r) {
    const uint32_t count = r.nseg + r.nind;
    uint32_t grow;
    {
        IrqSpinGuard guard(lock_);
        if (long e = state_error_locked()) return e;
        if (count > pool_cap_) return -XEN_ENOSPC;
        if (pool_free_count_ + (pool_cap_ - pool_size_) < count) return -XEN_EAGAIN;
        uint32_t take = count < pool_free_count_ ? count : pool_free_count_;
        for (uint32_t i = 0; i < take; ++i) {
            PoolPage* pp = pool_free_;
            pool_free_ = pp->next;
            --pool_free_count_;
            request_page(r, i) = Page{pp->va, pp->ref, pp, false, false};
        }
        grow = count - take;
        pool_size_ += grow;  // reserved: filled below, outside the lock
    }
    for (uint32_t i = count - grow; i < count; ++i) {
        PoolPage* pp = new_pool_page();
        if (!pp) {
            // The table or memory is full: stop growing and give back what was taken.
            IrqSpinGuard guard(lock_);
            pool_size_ -= count - i;
            pool_cap_ = pool_size_;
            release_pages(r);
            return -XEN_ENOSPC;
        }
        request_page(r, i) = Page{pp->va, pp->ref, pp, false, false};
    }
    return 0;
}

// A fresh page granted writable (blkif.h note 8: persistent grants may serve reads later).
Device::PoolPage* Device::new_pool_page() {
    auto* va = static_cast<uint8_t*>(mem::alloc_pages(1));
    auto* pp = static_cast<PoolPage*>(malloc(sizeof(PoolPage)));
    long ref = va && pp ? grant::grant_access(xb_.backend_id(), pfn_of(va), false) : -XEN_ENOMEM;
    if (ref < 0) {
        if (va) mem::free_pages(va, 1);
        free(pp);
        return nullptr;
    }
    *pp = PoolPage{va, static_cast<grant_ref_t>(ref), nullptr, nullptr};
    IrqSpinGuard guard(lock_);
    pp->all_next = pool_all_;
    pool_all_ = pp;
    return pp;
}

// Non-persistent mode: grant the caller's pages (or bounce pages, for a buffer that is not
// sector-aligned) and the indirect pages, for this request only. Writes and indirect
// pages are granted read-only: the backend only reads them.
long Device::grant_pages(Request& r) {
    const bool readonly = r.data_op == BLKIF_OP_WRITE;
    uint8_t* user_page = r.user - page_offset(r.user);
    for (uint32_t i = 0; i < r.nseg + r.nind; ++i) {
        Page& p = request_page(r, i);
        bool own = i >= r.nseg || r.copy;
        p.va = own ? static_cast<uint8_t*>(mem::alloc_pages(1)) : user_page + i * kPage;
        long ref =
            p.va ? grant::grant_access(xb_.backend_id(), pfn_of(p.va), i >= r.nseg || readonly)
                 : -XEN_ENOMEM;
        if (ref < 0) {
            if (own && p.va) mem::free_pages(p.va, 1);
            p = Page{};
            IrqSpinGuard guard(lock_);
            release_pages(r);
            return ref;
        }
        p.ref = static_cast<grant_ref_t>(ref);
        p.owned = own;
        p.granted = true;
    }
    return 0;
}

// The segment descriptors (and, for writes through our pages, the data); for an indirect
// request the descriptors go into the indirect pages.
void Device::fill_segments(Request& r) {
    const bool copy_in = r.copy && r.data_op == BLKIF_OP_WRITE;
    const uint8_t* src = r.user;
    uint32_t left = r.bytes;
    uint32_t off = r.copy ? 0 : page_offset(r.user);
    for (uint32_t i = 0; i < r.nseg; ++i) {
        uint32_t len = left < kPage - off ? left : kPage - off;
        r.seg[i].gref = r.pages[i].ref;
        r.seg[i].first_sect = static_cast<uint8_t>(off / kSectorSize);
        r.seg[i].last_sect = static_cast<uint8_t>((off + len) / kSectorSize - 1);
        if (copy_in) memcpy(r.pages[i].va, src, len);
        src += len;
        left -= len;
        off = 0;
    }
    for (uint32_t i = 0; r.nind && i < r.nseg; ++i) {
        auto* table =
            reinterpret_cast<blkif_request_segment*>(r.ind[i / kSegmentsPerIndirectPage].va);
        table[i % kSegmentsPerIndirectPage] = r.seg[i];
    }
}

// Puts the request on the ring (waiting for a free slot); with `publish`, makes it (and
// any written before it) visible and notifies the backend unless it said (req_event) that
// it will look anyway.
long Device::push(Request& r, bool publish) {
    bool notify = false;
    for (;;) {
        uint64_t seen;
        {
            IrqSpinGuard guard(lock_);
            if (long e = state_error_locked()) return e;
            if (nfree_ids_ && !RING_FULL(&front_)) {
                uint32_t id = free_ids_[--nfree_ids_];
                inflight_[id] = &r;
                write_slot(r, id);
                ++front_.req_prod_pvt;
                ++stats_.requests;
                if (publish) {
                    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front_, notify);
                    if (notify) ++stats_.notifies;
                }
                break;
            }
            seen = space_epoch();
        }
        wait_for_space(seen);
    }
    if (notify) events::notify(xb_.port());
    return 0;
}

// Publishes the requests written but not yet pushed (a batch in progress).
void Device::publish() {
    bool notify = false;
    {
        IrqSpinGuard guard(lock_);
        if (front_.req_prod_pvt == front_.sring->req_prod) return;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front_, notify);
        if (notify) ++stats_.notifies;
    }
    if (notify) events::notify(xb_.port());
}

// The request in the ring slot at req_prod_pvt, built whole here and copied in (the slot
// is shared memory, and the indirect and discard layouts are the header's casts of it).
void Device::write_slot(const Request& r, uint32_t id) {
    void* slot = RING_GET_REQUEST(&front_, front_.req_prod_pvt);
    const auto handle = static_cast<blkif_vdev_t>(devid_);
    if (r.op == BLKIF_OP_INDIRECT) {
        blkif_request_indirect_t q{};
        q.operation = BLKIF_OP_INDIRECT;
        q.indirect_op = r.data_op;
        q.nr_segments = static_cast<uint16_t>(r.nseg);
        q.id = id;
        q.sector_number = r.sector;
        q.handle = handle;
        for (uint32_t i = 0; i < r.nind; ++i) q.indirect_grefs[i] = r.ind[i].ref;
        memcpy(slot, &q, sizeof(q));
    } else if (r.op == BLKIF_OP_DISCARD) {
        blkif_request_discard_t q{};
        q.operation = BLKIF_OP_DISCARD;
        q.flag = r.io->secure ? BLKIF_DISCARD_SECURE : 0;
        q.handle = handle;
        q.id = id;
        q.sector_number = r.sector;
        q.nr_sectors = r.io->nsectors;
        memcpy(slot, &q, sizeof(q));
    } else {
        blkif_request_t q{};
        q.operation = r.op;
        q.nr_segments = static_cast<uint8_t>(r.nseg);
        q.handle = handle;
        q.id = id;
        q.sector_number = r.sector;
        for (uint32_t i = 0; i < r.nseg; ++i) q.seg[i] = r.seg[i];
        memcpy(slot, &q, sizeof(q));
    }
}

// ---- responses --------------------------------------------------------------------------

void Device::on_event(evtchn_port_t, void* arg) {
    auto* dev = static_cast<Device*>(arg);
    IrqSpinGuard guard(dev->lock_);
    if (dev->state_ == State::connected) dev->handle_responses_locked();
}

// Consumes every response the backend has produced (Linux's blkif_interrupt loop): the
// producer index is read once per pass and checked against what can be outstanding, each
// response is copied out of the shared slot before it is looked at, and rsp_event is
// re-armed before the final check so that no response goes unnoticed.
void Device::handle_responses_locked() {
    bool any = false;
    for (;;) {
        RING_IDX rp = __atomic_load_n(&front_.sring->rsp_prod, __ATOMIC_ACQUIRE);
        if (rp - front_.rsp_cons > front_.req_prod_pvt - front_.rsp_cons) {
            printf("blkfront: %s: backend produced %u responses for %u requests; device disabled\n",
                   name_, rp - front_.rsp_cons, front_.req_prod_pvt - front_.rsp_cons);
            ++stats_.bad_responses;
            fail_all_locked(-XEN_EIO);
            state_ = State::broken;
            return;
        }
        while (front_.rsp_cons != rp) {
            const volatile blkif_response_t* shared = RING_GET_RESPONSE(&front_, front_.rsp_cons);
            blkif_response_t rsp;
            rsp.id = shared->id;
            rsp.operation = shared->operation;
            rsp.status = shared->status;
            ++front_.rsp_cons;
            if (!complete_locked(rsp)) return;
            any = true;
        }
        if (front_.rsp_cons != front_.req_prod_pvt) {
            int more;
            RING_FINAL_CHECK_FOR_RESPONSES(&front_, more);
            if (more) continue;
        } else {
            front_.sring->rsp_event = front_.rsp_cons + 1;
        }
        break;
    }
    if (any) {
        ++stats_.batches;
        bump_space_epoch();
    }
}

// One response: checked (id in range and in flight, operation as asked, a known status)
// before anything it names is trusted. False when it was bad (the device is then broken).
bool Device::complete_locked(const blkif_response_t& rsp) {
    Request* r = rsp.id < info_.ring_slots ? inflight_[rsp.id] : nullptr;
    const char* bad = nullptr;
    if (!r) {
        bad = "its id is not a request in flight";
    } else if (rsp.operation != r->data_op &&
               !(r->op == BLKIF_OP_INDIRECT && rsp.operation == BLKIF_OP_INDIRECT)) {
        bad = "its operation is not the request's";
    } else if (rsp.status != BLKIF_RSP_OKAY && rsp.status != BLKIF_RSP_ERROR &&
               rsp.status != BLKIF_RSP_EOPNOTSUPP) {
        bad = "its status is unknown";
    }
    if (bad) {
        printf("blkfront: %s: bad response (id=%llu op=%u status=%d): %s; device disabled\n", name_,
               static_cast<unsigned long long>(rsp.id), rsp.operation, rsp.status, bad);
        ++stats_.bad_responses;
        fail_all_locked(-XEN_EIO);
        state_ = State::broken;
        return false;
    }
    inflight_[rsp.id] = nullptr;
    free_ids_[nfree_ids_++] = static_cast<uint32_t>(rsp.id);
    ++stats_.responses;
    long result = 0;
    if (rsp.status == BLKIF_RSP_ERROR) result = -XEN_EIO;
    if (rsp.status == BLKIF_RSP_EOPNOTSUPP) result = unsupported_locked(r->data_op);
    if (result == 0 && r->data_op == BLKIF_OP_READ && r->copy) copy_out(*r);
    if (!release_pages(*r) && result == 0) result = -XEN_EIO;
    finish_part(*r->io, result);
    free(r);
    return true;
}

// BLKIF_RSP_EOPNOTSUPP: legitimate for flush, barrier and discard, which are then no
// longer offered (as Linux does); a read or write answered so has failed.
long Device::unsupported_locked(uint8_t data_op) {
    switch (data_op) {
        case BLKIF_OP_FLUSH_DISKCACHE:
            info_.flush = false;
            return -XEN_EOPNOTSUPP;
        case BLKIF_OP_WRITE_BARRIER:
            info_.barrier = false;
            return -XEN_EOPNOTSUPP;
        case BLKIF_OP_DISCARD:
            info_.discard = false;
            return -XEN_EOPNOTSUPP;
        default:
            return -XEN_EIO;
    }
}

void Device::copy_out(const Request& r) {
    uint8_t* dst = r.user;
    uint32_t left = r.bytes;
    for (uint32_t i = 0; i < r.nseg && left; ++i) {
        uint32_t len = left < kPage ? left : kPage;
        memcpy(dst, r.pages[i].va, len);
        dst += len;
        left -= len;
    }
}

// Gives the request's pages back: pool pages to the pool, grants of its own ended (and
// bounce/indirect pages freed). A grant the backend still uses cannot be ended: it is
// reported and its page never reused. False in that case.
bool Device::release_pages(Request& r) {
    bool ok = true;
    for (uint32_t i = 0; i < r.nseg + r.nind; ++i) {
        Page& p = request_page(r, i);
        if (p.pooled) {
            p.pooled->next = pool_free_;
            pool_free_ = p.pooled;
            ++pool_free_count_;
        } else if (p.granted && grant::end_access(p.ref) < 0) {
            printf("blkfront: %s: backend still uses grant %u after its response; %s\n", name_,
                   p.ref, p.owned ? "page kept" : "caller's buffer exposed");
            ok = false;
        } else if (p.owned) {
            mem::free_pages(p.va, 1);
        }
        p = Page{};
    }
    return ok;
}

// Fails every request in flight with err (the connection is ending or broken).
void Device::fail_all_locked(long err) {
    if (!inflight_) return;
    for (uint32_t id = 0; id < info_.ring_slots; ++id) {
        Request* r = inflight_[id];
        if (!r) continue;
        inflight_[id] = nullptr;
        free_ids_[nfree_ids_++] = id;
        release_pages(*r);
        finish_part(*r->io, err);
        free(r);
    }
    bump_space_epoch();
}

// One ring request of io is done: the first error wins; the last part completes the Io.
void Device::finish_part(Io& io, long result) {
    if (result < 0) {
        long zero = 0;
        __atomic_compare_exchange_n(&io.result, &zero, result, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE);
    }
    if (__atomic_sub_fetch(&io.parts_, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (io.cq) {
        io.cq->post(&io);
    } else {
        // Set under the queue's lock: the waiter may return (and drop io) as soon as it sees it.
        done_wq_.notify_all([&io] { __atomic_store_n(&io.done_, true, __ATOMIC_RELEASE); });
    }
}

uint64_t Device::space_epoch() const {
    return __atomic_load_n(&space_epoch_, __ATOMIC_ACQUIRE);
}

void Device::bump_space_epoch() {
    space_wq_.notify_all([this] { __atomic_add_fetch(&space_epoch_, 1, __ATOMIC_ACQ_REL); });
}

void Device::wait_for_space(uint64_t seen) {
    publish();  // space comes from responses, which need the requests of a batch in progress
    space_wq_.wait_until([this, seen] { return space_epoch() != seen; });
}

// Ends the pool's grants (the backend has let go of them by Closed) and frees its pages.
void Device::free_pool() {
    PoolPage* all;
    {
        IrqSpinGuard guard(lock_);
        all = pool_all_;
        pool_all_ = pool_free_ = nullptr;
        pool_size_ = pool_free_count_ = 0;
    }
    uint32_t kept = 0;
    while (all) {
        PoolPage* next = all->all_next;
        if (grant::end_access(all->ref) == 0)
            mem::free_pages(all->va, 1);
        else
            ++kept;
        free(all);
        all = next;
    }
    if (kept)
        printf(
            "blkfront: %s: backend still maps %u persistent grants; their pages are not reused\n",
            name_, kept);
}

}  // namespace pumice::blkfront
