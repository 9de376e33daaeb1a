// The guest's side of a blkif device, played by the tests: a never-started domain on the
// null platform whose RAM the test writes directly: grant entries, the shared ring,
// request data. It notifies through the event channel it offered to domid 0.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include <sys/mman.h>

#include "backends/blkback/blkif.hpp"
#include "base/mapping.hpp"
#include "hv/hypervisor.hpp"
#include "tests/support/null_platform.hpp"
#include "tests/support/test_domain.hpp"

namespace xenolith::blkback::testing {

inline hv::Hypervisor& null_hypervisor() {
    static hv::Hypervisor h(std::make_unique<xenolith::testing::NullPlatform>());
    return h;
}

class BlkFrontend {
  public:
    // A domain with `ring_pages` ring pages (granted as refs kRingRef..) and an unbound
    // port offered to the backend.
    explicit BlkFrontend(const std::string& name, uint32_t ring_pages = 1) {
        t_ = xenolith::testing::make_test_domain(null_hypervisor(), name, 64 << 20, 1);
        first_pfn_ = (t_.plan.layout.first_free >> hv::kPageShift) + 16;
        // Ring pages deliberately not contiguous in the guest: every other page.
        for (uint32_t i = 0; i < ring_pages; ++i) {
            uint64_t pfn = first_pfn_ + 2 * i;
            std::memset(page(pfn), 0, hv::kPageSize);
            grant(kRingRef + i, pfn, false);
            ring_refs.push_back(kRingRef + i);
        }
        // The guest's virtually contiguous view of its ring pages: the pages from the
        // domain's memfd, side by side.
        window_ =
            Mapping::map(-1, ring_pages * hv::kPageSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
        for (uint32_t i = 0; i < ring_pages; ++i) {
            void* at = window_.data() + i * hv::kPageSize;
            void* got = ::mmap(at, hv::kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                               domain().memory().fd(),
                               static_cast<off_t>((first_pfn_ + 2 * i) << hv::kPageShift));
            EXPECT_EQ(got, at);
        }
        sring_ = reinterpret_cast<blkif_sring*>(window_.data());
        SHARED_RING_INIT(sring_);
        FRONT_RING_INIT(&front_, sring_, ring_pages * hv::kPageSize);
        long p = domain().evtchn().alloc_unbound(0);
        EXPECT_GT(p, 0);
        port = static_cast<uint32_t>(p);
    }
    ~BlkFrontend() { null_hypervisor().destroy_domain(domain().id()); }

    static constexpr grant_ref_t kRingRef = 8;
    static constexpr grant_ref_t kFirstDataRef = 64;

    hv::Domain& domain() { return *t_.domain; }
    std::shared_ptr<hv::Domain> shared_domain() { return t_.domain; }
    blkif_front_ring_t& front() { return front_; }
    blkif_sring* sring() { return sring_; }

    // Data pages, well clear of the ring.
    uint64_t data_pfn(uint32_t i) const { return first_pfn_ + 64 + i; }
    uint8_t* page(uint64_t pfn) { return domain().memory().base() + (pfn << hv::kPageShift); }
    uint8_t* data(uint32_t i) { return page(data_pfn(i)); }

    grant_entry_v1_t& entry(grant_ref_t ref) {
        auto& gt = domain().grant_table();
        auto frames = gt.frame_list(gt.nr_frames());
        uint64_t gpa = (frames.at(ref / hv::kGrantEntriesPerFrame) << hv::kPageShift) +
                       (ref % hv::kGrantEntriesPerFrame) * sizeof(grant_entry_v1_t);
        return *domain().memory().object<grant_entry_v1_t>(gpa);
    }
    // gnttab_grant_foreign_access_ref to domid 0.
    void grant(grant_ref_t ref, uint64_t pfn, bool readonly) {
        grant_entry_v1_t& e = entry(ref);
        e.frame = static_cast<uint32_t>(pfn);
        e.domid = 0;
        std::atomic_ref<uint16_t>(e.flags).store(
            static_cast<uint16_t>(GTF_permit_access | (readonly ? GTF_readonly : 0)));
    }
    // Grants data page i as ref kFirstDataRef + i and returns the ref.
    grant_ref_t grant_data(uint32_t i, bool readonly = false) {
        grant(kFirstDataRef + i, data_pfn(i), readonly);
        return kFirstDataRef + i;
    }
    uint32_t pins(grant_ref_t ref) { return domain().grant_table().pins(ref); }

    // Puts `req` on the ring (not yet published).
    void queue(const blkif_request_t& req) {
        std::memcpy(RING_GET_REQUEST(&front_, front_.req_prod_pvt), &req, sizeof req);
        ++front_.req_prod_pvt;
    }
    template <typename T>
    void queue_as(const T& req) {
        static_assert(sizeof(T) <= sizeof(blkif_request_t));
        blkif_request_t raw{};
        std::memcpy(&raw, &req, sizeof req);
        queue(raw);
    }
    // Publishes the queued requests and notifies the backend when it asked to be (its
    // req_event): a backend that forgets to ask stalls the tests.
    void push() {
        int notify = 0;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front_, notify);
        if (notify) kick();
    }
    void kick() { domain().evtchn().send(port); }

    // The next response, waiting up to 5 s.
    std::optional<blkif_response_t> response() {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline) {
            RING_IDX prod =
                std::atomic_ref<RING_IDX>(sring_->rsp_prod).load(std::memory_order_acquire);
            if (prod != front_.rsp_cons) {
                blkif_response_t r;
                std::memcpy(&r, RING_GET_RESPONSE(&front_, front_.rsp_cons), sizeof r);
                ++front_.rsp_cons;
                return r;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        return std::nullopt;
    }
    // Sends one request and returns its response's status (or 99 on a timeout or a
    // response that does not echo id and operation).
    int16_t roundtrip(const blkif_request_t& req, uint8_t expect_op) {
        queue(req);
        push();
        auto r = response();
        if (!r) return 99;
        EXPECT_EQ(r->id, req.id);
        EXPECT_EQ(r->operation, expect_op);
        if (r->id != req.id || r->operation != expect_op) return 99;
        return r->status;
    }
    int16_t roundtrip(const blkif_request_t& req) { return roundtrip(req, req.operation); }

    std::vector<grant_ref_t> ring_refs;
    uint32_t port = 0;

  private:
    xenolith::testing::TestDomain t_;
    uint64_t first_pfn_ = 0;
    Mapping window_;
    blkif_sring* sring_ = nullptr;
    blkif_front_ring_t front_{};
};

inline blkif_request_t rw_request(uint8_t op, uint64_t id, uint64_t sector,
                                  std::initializer_list<blkif_request_segment> segs) {
    blkif_request_t r{};
    r.operation = op;
    r.id = id;
    r.sector_number = sector;
    r.nr_segments = static_cast<uint8_t>(segs.size());
    size_t i = 0;
    for (const auto& s : segs) r.seg[i++] = s;
    return r;
}

}  // namespace xenolith::blkback::testing
