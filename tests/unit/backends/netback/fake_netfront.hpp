// The guest's side of netif, played by hand in a never-started domain's RAM: grant entries,
// the tx and rx shared rings (as Linux's netfront sets them up) and the event channel
// offered to domid 0. Also a HostLink that records what it is sent and injects frames.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "backends/netback/host_link.hpp"
#include "backends/netback/net_connection.hpp"
#include "backends/netback/netif.hpp"
#include "hv/hypervisor.hpp"
#include "tests/support/null_platform.hpp"
#include "tests/support/test_domain.hpp"

namespace xenolith::netback::testing {

using namespace std::chrono_literals;

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
    for (auto end = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < end;) {
        if (pred()) return true;
        std::this_thread::sleep_for(1ms);
    }
    return pred();
}

inline hv::Hypervisor& hypervisor() {
    static hv::Hypervisor h(std::make_unique<xenolith::testing::NullPlatform>());
    return h;
}

// Records the guest's frames; inject() plays the host sending one.
class LoopbackLink final : public HostLink {
  public:
    bool send(Frame frame) override {
        std::lock_guard lock(mutex_);
        if (refuse) return false;
        frames_.push_back(std::move(frame));
        return true;
    }
    std::string name() const override { return "loopback"; }
    bool checksums_trusted() const override { return trusted; }
    void inject(const Frame& frame) { deliver(frame); }
    std::vector<Frame> frames() {
        std::lock_guard lock(mutex_);
        return frames_;
    }
    size_t count() {
        std::lock_guard lock(mutex_);
        return frames_.size();
    }
    std::atomic<bool> refuse{false};
    bool trusted = true;

  private:
    std::mutex mutex_;
    std::vector<Frame> frames_;
};

// A recognisable frame of `size` bytes: broadcast destination, a made-up EtherType.
inline Frame pattern_frame(size_t size, uint8_t seed = 1) {
    Frame f(size);
    for (size_t i = 0; i < size; ++i) f[i] = static_cast<uint8_t>(seed + i * 7);
    std::memset(f.data(), 0xff, std::min<size_t>(6, size));
    if (size >= 14) f[12] = 0x88, f[13] = 0xb5;
    return f;
}

class FakeNetfront {
  public:
    static constexpr grant_ref_t kTxRingRef = 8;
    static constexpr grant_ref_t kRxRingRef = 9;
    static constexpr grant_ref_t kFirstDataRef = 16;  // data page i is granted as ref 16+i
    static constexpr unsigned kDataPages = 64;

    explicit FakeNetfront(const std::string& name) {
        t_ = xenolith::testing::make_test_domain(hypervisor(), name, 16 << 20, 1);
        grant(kTxRingRef, pfn(0), false);
        grant(kRxRingRef, pfn(1), false);
        auto* txs = reinterpret_cast<netif_tx_sring*>(page(0));
        auto* rxs = reinterpret_cast<netif_rx_sring*>(page(1));
        SHARED_RING_INIT(txs);
        FRONT_RING_INIT(&tx_, txs, hv::kPageSize);
        SHARED_RING_INIT(rxs);
        FRONT_RING_INIT(&rx_, rxs, hv::kPageSize);
        for (unsigned i = 0; i < kDataPages; ++i) grant(kFirstDataRef + i, pfn(2 + i), false);
        port_ = static_cast<uint32_t>(domain().evtchn().alloc_unbound(0));
    }
    ~FakeNetfront() { hypervisor().destroy_domain(domain().id()); }

    hv::Domain& domain() { return *t_.domain; }
    std::shared_ptr<hv::Domain> shared() { return t_.domain; }
    NetFrontend frontend(bool sg = true, bool rx_notify = true) {
        return {kTxRingRef, kRxRingRef, port_, sg, rx_notify, false};
    }
    uint32_t port() const { return port_; }

    // Data page i (granted as kFirstDataRef + i).
    uint8_t* data(unsigned i) { return page(2 + i); }
    grant_ref_t ref(unsigned i) { return kFirstDataRef + i; }
    void revoke(grant_ref_t r) { entry(r).flags = 0; }

    // --- TX ---
    void queue_tx(const netif_tx_request_t& req) {
        std::memcpy(RING_GET_REQUEST(&tx_, tx_.req_prod_pvt), &req, sizeof req);
        ++tx_.req_prod_pvt;
    }
    void queue_extra(const netif_extra_info_t& extra) {
        netif_tx_request_t slot{};
        std::memcpy(&slot, &extra, sizeof extra);
        queue_tx(slot);
    }
    void push_tx() {
        int notify = 0;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&tx_, notify);
        (void)notify;  // always notified: the tests do not rely on req_event
        domain().evtchn().send(port_);
    }
    // Sends `frame` from data pages starting at `first_page`, `per_slot` bytes a slot, the
    // first at `offset`.
    void send_frame(const Frame& frame, unsigned first_page, size_t per_slot, uint16_t offset = 0,
                    uint16_t flags = 0, uint16_t id = 0) {
        size_t done = 0;
        unsigned slot = 0;
        while (done < frame.size() || slot == 0) {
            size_t n = std::min(per_slot, frame.size() - done);
            uint16_t off = slot == 0 ? offset : 0;
            std::memcpy(data(first_page + slot) + off, frame.data() + done, n);
            netif_tx_request_t req{};
            req.gref = ref(first_page + slot);
            req.offset = off;
            req.id = static_cast<uint16_t>(id + slot);
            req.size = static_cast<uint16_t>(slot == 0 ? frame.size() : n);
            req.flags = slot == 0 ? flags : 0;
            done += n;
            if (done < frame.size()) req.flags |= NETTXF_more_data;
            queue_tx(req);
            ++slot;
        }
        push_tx();
    }
    // Waits for the tx responses up to the requests pushed; returns the new ones.
    std::vector<netif_tx_response_t> tx_responses() {
        std::vector<netif_tx_response_t> out;
        eventually([&] { return tx_.sring->rsp_prod == tx_.req_prod_pvt; });
        while (tx_.rsp_cons != tx_.sring->rsp_prod) {
            out.push_back(*RING_GET_RESPONSE(&tx_, tx_.rsp_cons));
            ++tx_.rsp_cons;
        }
        return out;
    }
    netif_tx_front_ring_t& tx() { return tx_; }

    // --- RX ---
    void post_rx(unsigned first_page, unsigned count, bool notify = true) {
        for (unsigned i = 0; i < count; ++i) {
            netif_rx_request_t req{};
            req.id = static_cast<uint16_t>(rx_.req_prod_pvt % 256);
            req.gref = ref(first_page + i);
            *RING_GET_REQUEST(&rx_, rx_.req_prod_pvt) = req;
            ++rx_.req_prod_pvt;
        }
        int n = 0;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&rx_, n);
        (void)n;
        if (notify) domain().evtchn().send(port_);
    }
    // Waits for `count` rx responses and returns them.
    std::vector<netif_rx_response_t> rx_responses(size_t count) {
        std::vector<netif_rx_response_t> out;
        eventually([&] { return rx_.sring->rsp_prod - rx_.rsp_cons >= count; });
        while (rx_.rsp_cons != rx_.sring->rsp_prod) {
            out.push_back(*RING_GET_RESPONSE(&rx_, rx_.rsp_cons));
            ++rx_.rsp_cons;
        }
        return out;
    }
    netif_rx_front_ring_t& rx() { return rx_; }

  private:
    uint64_t pfn(unsigned i) const {
        return (t_.plan.layout.first_free >> hv::kPageShift) + 64 + i;
    }
    uint8_t* page(unsigned i) { return t_.domain->memory().base() + (pfn(i) << hv::kPageShift); }
    grant_entry_v1_t& entry(grant_ref_t r) {
        uint64_t gpa = t_.plan.layout.grant_frames + r * sizeof(grant_entry_v1_t);
        return *t_.domain->memory().object<grant_entry_v1_t>(gpa);
    }
    void grant(grant_ref_t r, uint64_t frame, bool readonly) {
        grant_entry_v1_t& e = entry(r);
        e.frame = static_cast<uint32_t>(frame);
        e.domid = 0;
        std::atomic_ref<uint16_t>(e.flags).store(
            static_cast<uint16_t>(GTF_permit_access | (readonly ? GTF_readonly : 0)));
    }

    xenolith::testing::TestDomain t_;
    netif_tx_front_ring_t tx_{};
    netif_rx_front_ring_t rx_{};
    uint32_t port_ = 0;
};

}  // namespace xenolith::netback::testing
