#include "backends/netback/net_connection.hpp"

#include <poll.h>
#include <unistd.h>

#include <cstring>

#include "backends/netback/checksum.hpp"
#include "base/error.hpp"
#include "base/event_fd.hpp"

namespace xenolith::netback {

namespace {

template <typename T>
T load_acquire(T& v) {
    return std::atomic_ref<T>(v).load(std::memory_order_acquire);
}

hv::GrantMapping map_ring(hv::Domain& domain, grant_ref_t ref, const char* which) {
    hv::GrantMapping m = domain.grant_table().map(ref, 0, false);
    if (!m)
        throw Error(std::string(which) + " grant reference " + std::to_string(ref) +
                    " cannot be mapped (GNTST " + std::to_string(m.status()) + ")");
    return m;
}

}  // namespace

NetStats& NetStats::operator+=(const NetStats& o) {
    tx_packets += o.tx_packets;
    tx_bytes += o.tx_bytes;
    tx_errors += o.tx_errors;
    tx_dropped += o.tx_dropped;
    rx_packets += o.rx_packets;
    rx_bytes += o.rx_bytes;
    rx_dropped += o.rx_dropped;
    rx_oversize += o.rx_oversize;
    return *this;
}

NetConnection::NetConnection(std::shared_ptr<hv::Domain> domain, const NetFrontend& frontend,
                             HostLink& link, Options options)
    : domain_(std::move(domain)),
      frontend_(frontend),
      link_(link),
      options_(std::move(options)),
      checksums_trusted_(link.checksums_trusted()),
      tx_page_(map_ring(*domain_, frontend.tx_ring_ref, "tx-ring-ref")),
      rx_page_(map_ring(*domain_, frontend.rx_ring_ref, "rx-ring-ref")),
      channel_(domain_, frontend.port),
      wake_(make_event_fd()),
      stop_(make_event_fd()) {
    // Attached where each ring's responses stand, not at 0: rings served before (a restored
    // or resumed domain) go on from there; new ones have rsp_prod 0. Receive buffers the
    // guest posted and the old connection did not fill are still there to take.
    auto* tx = reinterpret_cast<netif_tx_sring*>(tx_page_.writable_page().data());
    auto* rx = reinterpret_cast<netif_rx_sring*>(rx_page_.writable_page().data());
    BACK_RING_ATTACH(&tx_, tx, load_acquire(tx->rsp_prod), hv::kPageSize);
    BACK_RING_ATTACH(&rx_, rx, load_acquire(rx->rsp_prod), hv::kPageSize);
    thread_ = std::thread([this] { run(); });
}

NetConnection::~NetConnection() {
    signal_event(stop_.get());
    if (thread_.joinable()) thread_.join();
}

void NetConnection::receive(std::span<const uint8_t> frame) {
    if (broken_) return;
    std::unique_lock lock(rx_mutex_);
    if (!queue_rx_locked(frame) || !rx_break_.empty()) return;
    pump_rx_locked();
    int notify = 0;
    if (!broken_ && rx_break_.empty()) RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&rx_, notify);
    bool hostile = !rx_break_.empty();
    // Frames left for want of buffers: the ring thread must know, to poll a frontend that
    // never notifies when it posts buffers (it may be asleep with nothing to wait for).
    bool left = !rx_queue_.empty();
    lock.unlock();
    if (notify) channel_.notify();
    // hostile: the ring thread reports it and disconnects
    if (hostile || left) signal_event(wake_.get());
}

bool NetConnection::queue_rx_locked(std::span<const uint8_t> frame) {
    if (rx_queue_.size() >= kRxQueueFrames) {
        counters_.rx_dropped.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    rx_queue_.emplace_back(frame.begin(), frame.end());
    return true;
}

NetStats NetConnection::stats() const {
    auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    const Counters& c = counters_;
    return {get(c.tx_packets), get(c.tx_bytes), get(c.tx_errors),  get(c.tx_dropped),
            get(c.rx_packets), get(c.rx_bytes), get(c.rx_dropped), get(c.rx_oversize)};
}

void NetConnection::run() {
    pollfd fds[3] = {
        {channel_.fd(), POLLIN, 0}, {wake_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    bool more = true;  // look once at start: the frontend may have queued before we bound
    bool rx_waiting = false;
    for (;;) {
        // Left-over work: only check for stop. Frames waiting for buffers from a frontend
        // that never notifies: look again soon.
        int timeout = more ? 0 : (rx_waiting && !frontend_.rx_notify) ? kRxPollMs : -1;
        if (::poll(fds, 3, timeout) < 0) continue;  // EINTR
        if (fds[2].revents) return;
        if (fds[0].revents) channel_.consume();
        if (fds[1].revents) drain_event(wake_.get());
        if (broken_) {
            more = false;
            rx_waiting = false;
            continue;  // the rings are no longer trusted: wait for the stop
        }
        bool notify_rx = false;
        more = process_tx();
        more |= process_rx(notify_rx);
        push_and_notify(notify_rx);
        std::lock_guard lock(rx_mutex_);
        rx_waiting = !rx_queue_.empty();
    }
}

// --- TX: guest → host ------------------------------------------------------------------

bool NetConnection::process_tx() {
    for (uint32_t done = 0; done < kBudget && !broken_;) {
        RING_IDX rp = load_acquire(tx_.sring->req_prod);
        RING_IDX avail = rp - tx_.req_cons;
        if (avail > RING_SIZE(&tx_) || RING_REQUEST_PROD_OVERFLOW(&tx_, rp)) {
            disconnect("tx ring producer " + std::to_string(rp) + " is more than " +
                       std::to_string(RING_SIZE(&tx_)) + " requests ahead of consumer " +
                       std::to_string(tx_.req_cons));
            return false;
        }
        if (avail == 0) {
            int more = 0;
            RING_FINAL_CHECK_FOR_REQUESTS(&tx_, more);
            if (!more) return false;
            continue;
        }
        TxChain chain = parse_tx_chain(
            [this](uint32_t i) {
                netif_tx_request_t req;
                std::memcpy(&req, RING_GET_REQUEST(&tx_, tx_.req_cons + i), sizeof req);
                return req;
            },
            avail);
        if (chain.verdict == TxChain::Verdict::Incomplete) return false;  // the rest will come
        if (chain.verdict == TxChain::Verdict::Hostile) {
            disconnect(chain.reason);
            return false;
        }
        tx_.req_cons += static_cast<RING_IDX>(chain.slots.size());
        handle_tx_chain(chain);
        ++done;
    }
    return !broken_;
}

void NetConnection::handle_tx_chain(TxChain& chain) {
    if (chain.verdict == TxChain::Verdict::Error) {
        counters_.tx_errors.fetch_add(1, std::memory_order_relaxed);
        respond_tx(chain, NETIF_RSP_ERROR);
        return;
    }
    Frame frame;
    frame.reserve(chain.size);
    if (!copy_tx(chain, frame)) return;
    if ((chain.flags & NETTXF_csum_blank) && !complete_l4_checksum(frame)) {
        // Offload asked for a packet we cannot checksum: not a frame we can hand on.
        counters_.tx_errors.fetch_add(1, std::memory_order_relaxed);
        respond_tx(chain, NETIF_RSP_ERROR);
        return;
    }
    size_t bytes = frame.size();
    if (!link_.send(std::move(frame))) {
        counters_.tx_dropped.fetch_add(1, std::memory_order_relaxed);
        respond_tx(chain, NETIF_RSP_DROPPED);
        return;
    }
    counters_.tx_packets.fetch_add(1, std::memory_order_relaxed);
    counters_.tx_bytes.fetch_add(bytes, std::memory_order_relaxed);
    respond_tx(chain, NETIF_RSP_OKAY);
}

bool NetConnection::copy_tx(const TxChain& chain, Frame& frame) {
    for (const TxSlot& slot : chain.slots) {
        if (slot.extra) continue;
        // Read-only pin for the copy only: the frontend may reuse the page once answered.
        hv::GrantMapping page = domain_->grant_table().map(slot.req.gref, 0, true);
        if (!page.valid()) {
            disconnect("tx grant reference " + std::to_string(slot.req.gref) +
                       " is not granted to the backend (GNTST " + std::to_string(page.status()) +
                       ")");
            return false;
        }
        auto bytes = page.page().subspan(slot.req.offset, slot.length);
        frame.insert(frame.end(), bytes.begin(), bytes.end());
    }
    return true;
}

void NetConnection::respond_tx(const TxChain& chain, int16_t status) {
    for (const TxSlot& slot : chain.slots) {
        netif_tx_response_t rsp{};
        rsp.id = slot.extra ? 0 : slot.req.id;
        rsp.status = slot.extra ? int16_t{NETIF_RSP_NULL} : status;
        std::memcpy(RING_GET_RESPONSE(&tx_, tx_.rsp_prod_pvt), &rsp, sizeof rsp);
        ++tx_.rsp_prod_pvt;
    }
}

// --- RX: host → guest ------------------------------------------------------------------

bool NetConnection::process_rx(bool& notify) {
    std::string hostile;
    bool more;
    {
        std::lock_guard lock(rx_mutex_);
        more = pump_rx_locked();
        if (!rx_break_.empty()) {
            hostile = rx_break_;
        } else if (!broken_) {
            int n = 0;
            RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&rx_, n);
            notify = n != 0;
        }
    }
    if (!hostile.empty()) {
        disconnect(hostile);
        return false;
    }
    return more;
}

bool NetConnection::pump_rx_locked() {
    for (uint32_t done = 0; done < kBudget && !broken_ && rx_break_.empty(); ++done) {
        // Checked on every wakeup, frames or not: a corrupt ring is reported at once.
        RING_IDX rp = load_acquire(rx_.sring->req_prod);
        RING_IDX avail = rp - rx_.req_cons;
        if (avail > RING_SIZE(&rx_) || RING_REQUEST_PROD_OVERFLOW(&rx_, rp)) {
            rx_break_ = "rx ring producer " + std::to_string(rp) + " is more than " +
                        std::to_string(RING_SIZE(&rx_)) + " requests ahead of consumer " +
                        std::to_string(rx_.req_cons);
            return false;
        }
        if (rx_queue_.empty()) return false;
        const Frame* frame = &rx_queue_.front();
        uint32_t slots = static_cast<uint32_t>((frame->size() + hv::kPageSize - 1) / hv::kPageSize);
        if (slots == 0 || (slots > 1 && !frontend_.sg) || slots > XEN_NETIF_NR_SLOTS_MIN) {
            counters_.rx_oversize.fetch_add(1, std::memory_order_relaxed);
        } else if (avail < slots) {
            // Ask to be notified when the frontend posts more buffers, then look again in
            // case it did in between.
            int more = 0;
            RING_FINAL_CHECK_FOR_REQUESTS(&rx_, more);
            if (load_acquire(rx_.sring->req_prod) - rx_.req_cons < slots) return false;
            continue;
        } else if (!deliver_rx(*frame, slots)) {
            return false;
        }
        rx_queue_.pop_front();
    }
    return !broken_ && rx_break_.empty() && !rx_queue_.empty();
}

bool NetConnection::deliver_rx(const Frame& frame, uint32_t slots) {
    size_t offset = 0;
    for (uint32_t i = 0; i < slots; ++i) {
        netif_rx_request_t req;
        std::memcpy(&req, RING_GET_REQUEST(&rx_, rx_.req_cons), sizeof req);
        ++rx_.req_cons;
        hv::GrantMapping page = domain_->grant_table().map(req.gref, 0, false);
        if (!page.valid()) {
            rx_break_ = "rx grant reference " + std::to_string(req.gref) +
                        " is not granted to the backend for writing (GNTST " +
                        std::to_string(page.status()) + ")";
            return false;
        }
        size_t chunk = std::min<size_t>(hv::kPageSize, frame.size() - offset);
        std::memcpy(page.writable_page().data(), frame.data() + offset, chunk);
        offset += chunk;
        netif_rx_response_t rsp{};
        rsp.id = req.id;
        rsp.offset = 0;
        rsp.status = static_cast<int16_t>(chunk);
        if (i + 1 < slots) rsp.flags |= NETRXF_more_data;
        if (i == 0 && checksums_trusted_) rsp.flags |= NETRXF_data_validated;
        std::memcpy(RING_GET_RESPONSE(&rx_, rx_.rsp_prod_pvt), &rsp, sizeof rsp);
        ++rx_.rsp_prod_pvt;
    }
    counters_.rx_packets.fetch_add(1, std::memory_order_relaxed);
    counters_.rx_bytes.fetch_add(frame.size(), std::memory_order_relaxed);
    return true;
}

// --- Both ------------------------------------------------------------------------------

// The tx responses (the rx ones are pushed under rx_mutex_), and one notify for both.
void NetConnection::push_and_notify(bool notify_rx) {
    if (broken_) return;  // the ring is no longer written
    int notify_tx = 0;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&tx_, notify_tx);
    if (notify_tx || notify_rx) channel_.notify();
}

void NetConnection::disconnect(const std::string& reason) {
    if (broken_.exchange(true)) return;
    {
        std::lock_guard lock(rx_mutex_);
        rx_queue_.clear();
    }
    if (options_.on_broken) options_.on_broken(reason);
}

}  // namespace xenolith::netback
