#include "backends/blkback/blk_connection.hpp"

#include <poll.h>

#include <unistd.h>
#include <chrono>
#include <thread>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>
#include <xen/io/protocols.h>

#include "base/error.hpp"
#include "base/event_fd.hpp"

namespace xenolith::blkback {

namespace {

// Only the native layout is served: x86_32 frontends lay requests out differently.
hv::Domain& native_only(hv::Domain& domain, const std::string& protocol, const std::string& name) {
    if (!protocol.empty() && protocol != XEN_IO_PROTO_ABI_X86_64)
        throw Error(name + ": the frontend's protocol \"" + protocol +
                    "\" is not supported (only " + XEN_IO_PROTO_ABI_X86_64 + ")");
    return domain;
}

DiskLimits limits_for(const Image& image, const BlkConnection::Options& opts) {
    DiskLimits l;
    l.sectors = image.sectors();
    l.readonly = image.readonly();
    l.discard = opts.discard && image.discard_supported() && !image.readonly();
    l.max_indirect_segments = std::min(opts.max_indirect_segments, kMaxIndirectSegmentsCeiling);
    return l;
}

}  // namespace

BlkConnection::BlkConnection(std::shared_ptr<hv::Domain> domain, std::shared_ptr<Image> image,
                             FrontendRing ring, Options opts, std::string name)
    : name_(std::move(name)),
      domain_(std::move(domain)),
      image_(std::move(image)),
      opts_(std::move(opts)),
      limits_(limits_for(*image_, opts_)),
      shared_(native_only(*domain_, ring.protocol, name_), ring.refs, opts_.max_ring_page_order,
              name_),
      channel_(domain_, ring.port),
      grants_(domain_->grant_table(), ring.persistent, opts_.max_persistent_grants) {
    // Attached where the frontend's responses stand, not at 0: a ring served before (a
    // restored or resumed domain) goes on from there, a new one has rsp_prod 0. A hostile
    // rsp_prod only moves where the producer checks start.
    BACK_RING_ATTACH(
        &ring_, shared_.sring(),
        std::atomic_ref<RING_IDX>(shared_.sring()->rsp_prod).load(std::memory_order_acquire),
        shared_.bytes());
    ring_size_ = RING_SIZE(&ring_);
    engine_ = make_io_engine(image_, opts_.engine, ring_size_);
    slots_.resize(ring_size_);
    for (uint32_t i = ring_size_; i-- > 0;) free_slots_.push_back(i);
    queued_ops_.reserve(ring_size_);
    stop_ = make_event_fd();
    thread_ = std::thread([this] { run(); });
}

BlkConnection::~BlkConnection() {
    stop();
}

void BlkConnection::stop() {
    signal_event(stop_.get());
    if (thread_.joinable()) thread_.join();
}

std::string BlkConnection::broken_reason() const {
    std::lock_guard lock(reason_mutex_);
    return reason_;
}

BlkConnection::Stats BlkConnection::stats() const {
    Stats s;
    s.requests = counters_.requests.load();
    s.reads = counters_.reads.load();
    s.writes = counters_.writes.load();
    s.flushes = counters_.flushes.load();
    s.discards = counters_.discards.load();
    s.bytes_read = counters_.bytes_read.load();
    s.bytes_written = counters_.bytes_written.load();
    s.errors = counters_.errors.load();
    s.persistent_grants = counters_.persistent_grants.load();
    return s;
}

std::vector<std::pair<std::string, std::string>> BlkConnection::backend_features(
    const Image& image, const Options& opts) {
    DiskLimits limits = limits_for(image, opts);
    uint32_t info = (image.readonly() ? VDISK_READONLY : 0) | (opts.cdrom ? VDISK_CDROM : 0);
    uint32_t granularity = limits.discard ? image.discard_granularity() : image.sector_size();
    std::vector<std::pair<std::string, std::string>> nodes = {
        {"feature-flush-cache", "1"},
        {"feature-barrier", "1"},
        {"feature-discard", limits.discard ? "1" : "0"},
        {"discard-granularity", std::to_string(granularity)},
        {"discard-alignment", "0"},
        {"discard-secure", "0"},
    };
    // Absent, not 0, when indirect requests are not served (blkif.h).
    if (limits.max_indirect_segments > 0)
        nodes.emplace_back("feature-max-indirect-segments",
                           std::to_string(limits.max_indirect_segments));
    nodes.emplace_back("feature-persistent", "1");
    nodes.emplace_back("max-ring-page-order", std::to_string(opts.max_ring_page_order));
    nodes.emplace_back("sectors", std::to_string(image.sectors()));
    nodes.emplace_back("sector-size", std::to_string(image.sector_size()));
    nodes.emplace_back("physical-sector-size", std::to_string(image.physical_sector_size()));
    nodes.emplace_back("info", std::to_string(info));
    return nodes;
}

// --- The ring thread ------------------------------------------------------------------

void BlkConnection::run() {
    // Requests the frontend queued before the backend connected.
    consume_requests();
    submit_queued();
    pollfd fds[3] = {
        {channel_.fd(), POLLIN, 0}, {engine_->event_fd(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 3, -1) < 0) continue;  // EINTR
        if (fds[2].revents) break;
        if (fds[0].revents) channel_.consume();
        if (fds[1].revents) reap_completions();
        serve();
    }
    drain_in_flight();
}

// Rounds of requests and responses while the frontend keeps the ring busy. After answering
// a round the thread watches the ring a little while before it asks for a notify and
// sleeps: a frontend that queues its next requests meanwhile needs no notify (an exit
// for a guest on the process platform) and the thread no wakeup.
void BlkConnection::serve() {
    // Bounded, so that a frontend that never lets the ring go idle cannot keep the thread
    // from looking at its stop signal.
    for (uint32_t rounds = 0; rounds < kRoundsBeforePoll; ++rounds) {
        if (serve_round(false) == 0 || !wait_for_requests(kRequestSpin)) break;
    }
    serve_round(true);
}

uint32_t BlkConnection::serve_round(bool arm) {
    uint32_t taken = consume_requests(arm);
    submit_queued();
    // Reads the page cache can serve complete during the submission (io_uring tries them
    // inline): answer them in this round, not after another poll().
    if (in_flight_ > 0) {
        reap_completions();
        submit_queued();  // what completions queued (a flush's sync, a barrier)
    }
    push_responses();
    return taken;
}

bool BlkConnection::wait_for_requests(std::chrono::nanoseconds how_long) {
    auto end = std::chrono::steady_clock::now() + how_long;
    do {
        RING_IDX rp =
            std::atomic_ref<RING_IDX>(ring_.sring->req_prod).load(std::memory_order_acquire);
        if (rp != ring_.req_cons) return true;
        std::this_thread::yield();  // a busy machine's other threads come first
    } while (std::chrono::steady_clock::now() < end);
    return false;
}

void BlkConnection::drain_in_flight() {
    submit_queued();
    pollfd fd{engine_->event_fd(), POLLIN, 0};
    while (in_flight_ > 0) {
        if (::poll(&fd, 1, -1) < 0) continue;
        reap_completions();
        submit_queued();
        push_responses();
    }
}

uint32_t BlkConnection::consume_requests(bool arm) {
    uint32_t taken = 0;
    for (;;) {
        if (barrier_ || broken_) return taken;
        RING_IDX rp =
            std::atomic_ref<RING_IDX>(ring_.sring->req_prod).load(std::memory_order_acquire);
        if (RING_REQUEST_PROD_OVERFLOW(&ring_, rp)) {
            disconnect("the request producer index (" + std::to_string(rp) + ") is " +
                       std::to_string(rp - ring_.rsp_prod_pvt) +
                       " requests ahead of the responses, " + "more than the ring's " +
                       std::to_string(ring_size_));
            return taken;
        }
        bool stalled = false;
        for (RING_IDX rc = ring_.req_cons; rc != rp;) {
            // Every slot is waiting for its response: completions make room and call again.
            if (RING_REQUEST_CONS_OVERFLOW(&ring_, rc) || free_slots_.empty()) {
                stalled = true;
                break;
            }
            blkif_request_t copy;
            std::memcpy(&copy, RING_GET_REQUEST(&ring_, rc), sizeof copy);
            std::atomic_signal_fence(std::memory_order_seq_cst);  // checks see the copy only
            ring_.req_cons = ++rc;
            ++taken;
            start_request(copy);
            if (barrier_) {  // nothing after a barrier starts before it completes
                stalled = true;
                break;
            }
        }
        push_responses();
        if (stalled || !arm) return taken;
        int more = 0;
        RING_FINAL_CHECK_FOR_REQUESTS(&ring_, more);
        if (!more) return taken;
    }
}

void BlkConnection::start_request(const blkif_request_t& copy) {
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    uint32_t index = free_slots_.back();
    free_slots_.pop_back();
    Slot& s = slots_[index];
    Verdict v = decode_request(copy, limits_, s.req);
    if (v.ok() && s.req.indirect) {
        v = load_indirect_segments(s) ? check_segments(s.req, limits_)
                                      : Verdict{BLKIF_RSP_ERROR, "an indirect page is not granted"};
    }
    if (v.ok() && !map_segments(s))
        v = {BLKIF_RSP_ERROR, "a segment's page is not granted (writably, for a read)"};
    counters_.persistent_grants.store(grants_.persistent_count(), std::memory_order_relaxed);
    if (!v.ok()) {
        finish(index, v.status);
        return;
    }
    s.bytes = s.req.nr_sectors << kSectorShift;
    s.sync_after = s.req.op == BlkOp::Flush || s.req.op == BlkOp::Barrier;
    if (s.req.op == BlkOp::Discard && s.req.nr_sectors == 0) {
        finish(index, BLKIF_RSP_OKAY);
        return;
    }
    if (s.req.op == BlkOp::Barrier) {
        // Drain: the barrier starts once everything before it has completed.
        barrier_ = index;
        s.stage = Stage::Parked;
        if (in_flight_ == 0) start_io(index);
        return;
    }
    start_io(index);
}

bool BlkConnection::load_indirect_segments(Slot& slot) {
    BlkRequest& r = slot.req;
    r.segments.resize(r.nr_segments);
    uint32_t copied = 0;
    for (uint32_t p = 0; p < r.nr_indirect_pages; ++p) {
        int16_t status;
        const uint8_t* page = grants_.map(r.indirect_refs[p], false, slot.held, status);
        if (!page) return false;
        uint32_t n = std::min(kSegmentsPerIndirectPage, r.nr_segments - copied);
        // Copied out once: the guest may rewrite the page while it is checked.
        std::memcpy(&r.segments[copied], page, n * sizeof(blkif_request_segment));
        copied += n;
    }
    return true;
}

bool BlkConnection::map_segments(Slot& slot) {
    slot.iov.clear();
    bool writable = slot.req.writes_guest_memory();
    for (const blkif_request_segment& seg : slot.req.segments) {
        int16_t status;
        uint8_t* page = grants_.map(seg.gref, writable, slot.held, status);
        if (!page) return false;
        // Straight onto the guest's page: no bounce buffer. A segment that continues the
        // previous one in our mapping of guest RAM (a buffer contiguous in the guest, granted
        // page by page) extends its iovec: fewer, longer copies for the kernel.
        uint8_t* base = page + (size_t{seg.first_sect} << kSectorShift);
        size_t len = (size_t{seg.last_sect} - seg.first_sect + 1) << kSectorShift;
        if (!slot.iov.empty() &&
            static_cast<uint8_t*>(slot.iov.back().iov_base) + slot.iov.back().iov_len == base)
            slot.iov.back().iov_len += len;
        else
            slot.iov.push_back({base, len});
    }
    return true;
}

void BlkConnection::start_io(uint32_t index) {
    Slot& s = slots_[index];
    switch (s.req.op) {
        case BlkOp::Read:
            queue_op(index, IoOp::Kind::Read, Stage::Data);
            break;
        case BlkOp::Write:
            queue_op(index, IoOp::Kind::Write, Stage::Data);
            break;
        case BlkOp::Flush:
        case BlkOp::Barrier:
            if (s.req.nr_segments > 0)
                queue_op(index, IoOp::Kind::Write, Stage::Data);
            else
                queue_op(index, IoOp::Kind::Sync, Stage::Sync);
            break;
        case BlkOp::Discard:
            queue_op(index, IoOp::Kind::Discard, Stage::Discard);
            break;
    }
}

void BlkConnection::queue_op(uint32_t index, IoOp::Kind kind, Stage stage) {
    Slot& s = slots_[index];
    IoOp op;
    op.kind = kind;
    op.offset = s.req.sector << kSectorShift;
    op.length = s.req.nr_sectors << kSectorShift;
    if (kind == IoOp::Kind::Read || kind == IoOp::Kind::Write) op.iov = s.iov;
    op.tag = index;
    s.stage = stage;
    queued_ops_.push_back(op);
    ++in_flight_;
}

void BlkConnection::submit_queued() {
    if (queued_ops_.empty()) return;
    engine_->submit(queued_ops_);
    queued_ops_.clear();
}

void BlkConnection::reap_completions() {
    for (const IoCompletion& c : engine_->reap()) complete(static_cast<uint32_t>(c.tag), c.result);
    if (barrier_ && slots_[*barrier_].stage == Stage::Parked && in_flight_ == 0)
        start_io(*barrier_);
}

void BlkConnection::complete(uint32_t index, int64_t result) {
    if (index >= slots_.size()) return;
    Slot& s = slots_[index];
    if (s.stage == Stage::Free || s.stage == Stage::Parked) return;
    --in_flight_;
    bool ok = result >= 0 && (s.stage != Stage::Data || static_cast<uint64_t>(result) == s.bytes);
    if (!ok) {
        finish(index, BLKIF_RSP_ERROR);
        return;
    }
    switch (s.stage) {
        case Stage::Data:
            if (s.req.op == BlkOp::Read) {
                counters_.reads.fetch_add(1, std::memory_order_relaxed);
                counters_.bytes_read.fetch_add(s.bytes, std::memory_order_relaxed);
            } else {
                counters_.writes.fetch_add(1, std::memory_order_relaxed);
                counters_.bytes_written.fetch_add(s.bytes, std::memory_order_relaxed);
            }
            if (s.sync_after) {  // the data is written: now make it (and what came before) durable
                queue_op(index, IoOp::Kind::Sync, Stage::Sync);
                return;
            }
            break;
        case Stage::Sync:
            counters_.flushes.fetch_add(1, std::memory_order_relaxed);
            break;
        case Stage::Discard:
            counters_.discards.fetch_add(1, std::memory_order_relaxed);
            break;
        default:
            break;
    }
    finish(index, BLKIF_RSP_OKAY);
}

void BlkConnection::finish(uint32_t index, int16_t status) {
    Slot& s = slots_[index];
    s.held.clear();  // non-persistent grants are unmapped as soon as the I/O is done
    s.iov.clear();
    s.stage = Stage::Free;
    if (status != BLKIF_RSP_OKAY) counters_.errors.fetch_add(1, std::memory_order_relaxed);
    respond(s.req.id, s.req.response_op, status);
    free_slots_.push_back(index);
    if (barrier_ == index) barrier_.reset();
}

void BlkConnection::respond(uint64_t id, uint8_t op, int16_t status) {
    if (broken_) return;  // the ring is no longer trusted, nor written
    blkif_response_t r{};
    r.id = id;
    r.operation = op;
    r.status = status;
    std::memcpy(RING_GET_RESPONSE(&ring_, ring_.rsp_prod_pvt), &r, sizeof r);
    ++ring_.rsp_prod_pvt;
    responses_waiting_ = true;
}

void BlkConnection::push_responses() {
    if (!responses_waiting_ || broken_) return;
    responses_waiting_ = false;
    int notify = 0;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&ring_, notify);
    if (notify) channel_.notify();
}

void BlkConnection::disconnect(const std::string& reason) {
    if (broken_.exchange(true)) return;
    {
        std::lock_guard lock(reason_mutex_);
        reason_ = reason;
    }
    std::string line = "blkback: " + name_ + " disconnected: " + reason;
    if (opts_.log)
        opts_.log(line);
    else
        spdlog::warn("{}", line);
    if (opts_.on_broken) opts_.on_broken(reason);
}

}  // namespace xenolith::blkback
