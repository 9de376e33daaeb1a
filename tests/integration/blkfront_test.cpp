// Pumice's block frontend (guest/apps/blktest, blkbench) against a scripted blkif backend
// written here: a test double, not the daemon's blkback. It plays the backend's side of
// the xenbus handshake through the store, maps the frontend's grants as domid 0 does, and
// serves requests from a vector, so the frontend's ring, grant, indirect and persistent
// logic is checked on its own, including against a backend that answers wrongly.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <thread>

#include "abi/xen.hpp"
#include "backends/xenstored/local_client.hpp"
#include "hv/grant_table.hpp"
#include "hv/host_channel.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/scripted_backend.hpp"
#include "toolstack/launch/store_service.hpp"

#include <xen/io/blkif.h>

#include "common/blk_pattern.hpp"

namespace xenolith::integration {
namespace {

constexpr uint32_t kXvda = 51712;

struct BackendOptions {
    uint64_t sectors = 8192;
    bool readonly = false;
    bool persistent = true;
    uint32_t indirect = 256;  // 0: no feature-max-indirect-segments
    uint32_t max_ring_order = 2;
    bool discard = false;
    bool bad_response_id = false;  // answer the first request with an id never issued
};

// The backend half of one vbd, served from a thread that polls the store and the ring.
class ScriptedBlkBackend {
  public:
    ScriptedBlkBackend(launch::StoreService& store, std::shared_ptr<hv::Domain> dom,
                       BackendOptions o)
        : xb_(store, std::move(dom), "vbd", kXvda),
          dom_(&xb_.dom()),
          o_(o),
          disk_(o.sectors * 512, 0),
          fe_(xb_.fe()),
          be_(xb_.be()) {}
    ~ScriptedBlkBackend() { xb_.stop(); }

    // Writes both directories as libxl does and starts serving (backend state InitWait).
    void plug() {
        xb_.create_dirs();
        xb_.write(be_ + "/frontend", fe_);
        xb_.write(be_ + "/frontend-id", std::to_string(dom_->id()));
        xb_.write(be_ + "/online", "1");
        xb_.write(be_ + "/state", "1");
        xb_.write(be_ + "/mode", o_.readonly ? "r" : "w");
        xb_.write(be_ + "/sectors", std::to_string(o_.sectors));
        xb_.write(be_ + "/sector-size", "512");
        xb_.write(be_ + "/info", o_.readonly ? std::to_string(VDISK_READONLY) : "0");
        xb_.write(be_ + "/feature-flush-cache", "1");
        xb_.write(be_ + "/feature-persistent", o_.persistent ? "1" : "0");
        xb_.write(be_ + "/feature-discard", o_.discard ? "1" : "0");
        xb_.write(be_ + "/max-ring-page-order", std::to_string(o_.max_ring_order));
        if (o_.indirect)
            xb_.write(be_ + "/feature-max-indirect-segments", std::to_string(o_.indirect));
        xb_.write(fe_ + "/backend", be_);
        xb_.write(fe_ + "/backend-id", "0");
        xb_.write(fe_ + "/virtual-device", std::to_string(kXvda));
        xb_.write(fe_ + "/device-type", "disk");
        xb_.write(fe_ + "/state", "1");
        xb_.set_state(XenbusStateInitWait);
        xb_.start([this] { run(); });
    }
    // Hot-unplug: the backend goes Closing; the thread finishes the detach.
    void unplug() { xb_.unplug(); }

    const std::vector<uint8_t>& disk() const { return disk_; }
    uint64_t requests() const { return requests_; }
    uint64_t indirect_requests() const { return indirect_; }
    std::string fe_state() { return xb_.fe_state(); }
    std::string be_state() { return xb_.be_state(); }

  private:
    std::string read(const std::string& path) { return xb_.read(path); }

    void run() {
        while (xb_.running()) {
            auto step = xb_.step([this] { return connect(); });
            if (step == ScriptedXenbus::Step::finish) {
                disconnect();
                xb_.closed();
                return;
            }
            if (step == ScriptedXenbus::Step::serve) {
                xb_.wait_event();
                serve();
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        }
    }

    bool connect() {
        uint32_t order = 0;
        std::string o = read(fe_ + "/ring-page-order");
        if (!o.empty()) order = std::stoul(o);
        for (uint32_t i = 0; i < (1u << order); ++i) {
            std::string ref = read(fe_ + (order ? "/ring-ref" + std::to_string(i) : "/ring-ref"));
            ring_.push_back(dom_->grant_table().map(std::stoul(ref), 0, false));
            if (!ring_.back()) throw std::runtime_error("ring grant " + ref + " does not map");
        }
        protocol_ = read(fe_ + "/protocol");
        fe_persistent_ = read(fe_ + "/feature-persistent") == "1";
        nr_ents_ = __CONST_RING_SIZE(blkif, (1u << order) * 4096);
        xb_.bind_channel();
        return true;
    }

    void disconnect() {
        persistent_.clear();
        ring_.clear();
        xb_.close_channel();
    }

    // The ring is 1..4 separate mappings: copy across page boundaries.
    void ring_io(size_t off, void* buf, size_t n, bool write) {
        auto* b = static_cast<uint8_t*>(buf);
        while (n) {
            auto page = ring_[off / 4096].writable_page();
            size_t in = off % 4096, len = std::min(n, 4096 - in);
            if (write)
                std::memcpy(page.data() + in, b, len);
            else
                std::memcpy(b, page.data() + in, len);
            off += len, b += len, n -= len;
        }
    }
    uint32_t* index(size_t off) {
        return reinterpret_cast<uint32_t*>(ring_[0].writable_page().data() + off);
    }

    void serve() {
        const size_t entries = offsetof(blkif_sring, ring), entry = sizeof(blkif_sring::ring[0]);
        bool any = false;
        for (;;) {
            uint32_t prod =
                __atomic_load_n(index(offsetof(blkif_sring, req_prod)), __ATOMIC_ACQUIRE);
            while (req_cons_ != prod) {
                blkif_request_t req;
                ring_io(entries + (req_cons_ % nr_ents_) * entry, &req, sizeof(req), false);
                ++req_cons_;
                blkif_response_t rsp{};
                rsp.id = req.id;
                rsp.operation = req.operation == BLKIF_OP_INDIRECT
                                    ? reinterpret_cast<blkif_request_indirect_t&>(req).indirect_op
                                    : req.operation;
                rsp.status = handle(req);
                if (o_.bad_response_id && requests_ == 1) rsp.id = 100000;
                ring_io(entries + (rsp_prod_ % nr_ents_) * entry, &rsp, sizeof(rsp), true);
                ++rsp_prod_;
                any = true;
            }
            __atomic_store_n(index(offsetof(blkif_sring, rsp_prod)), rsp_prod_, __ATOMIC_RELEASE);
            __atomic_store_n(index(offsetof(blkif_sring, req_event)), req_cons_ + 1,
                             __ATOMIC_SEQ_CST);
            if (__atomic_load_n(index(offsetof(blkif_sring, req_prod)), __ATOMIC_SEQ_CST) ==
                req_cons_)
                break;
        }
        if (any) xb_.channel().notify();
    }

    hv::GrantMapping* data_page(grant_ref_t ref, bool write_to_page, hv::GrantMapping& temp) {
        if (o_.persistent && fe_persistent_) {
            auto it = persistent_.find(ref);
            if (it == persistent_.end())
                it = persistent_.emplace(ref, dom_->grant_table().map(ref, 0, false)).first;
            return it->second ? &it->second : nullptr;
        }
        temp = dom_->grant_table().map(ref, 0, !write_to_page);
        return temp ? &temp : nullptr;
    }

    int16_t handle(const blkif_request_t& req) {
        ++requests_;
        uint8_t op = req.operation;
        uint64_t sector = req.sector_number;
        std::vector<blkif_request_segment> segs;
        if (op == BLKIF_OP_INDIRECT) {
            const auto& ind = reinterpret_cast<const blkif_request_indirect_t&>(req);
            ++indirect_;
            op = ind.indirect_op;
            sector = ind.sector_number;
            if (ind.nr_segments == 0 || ind.nr_segments > o_.indirect) return BLKIF_RSP_ERROR;
            for (uint32_t i = 0; i < ind.nr_segments; ++i) {
                hv::GrantMapping temp;
                hv::GrantMapping* page = data_page(ind.indirect_grefs[i / 512], false, temp);
                if (!page) return BLKIF_RSP_ERROR;
                blkif_request_segment s;
                std::memcpy(&s, page->page().data() + (i % 512) * sizeof(s), sizeof(s));
                segs.push_back(s);
            }
        } else {
            if (req.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST) return BLKIF_RSP_ERROR;
            segs.assign(req.seg, req.seg + req.nr_segments);
        }
        if (op == BLKIF_OP_FLUSH_DISKCACHE) return BLKIF_RSP_OKAY;
        if (op == BLKIF_OP_DISCARD) {
            const auto& d = reinterpret_cast<const blkif_request_discard_t&>(req);
            if (d.sector_number > o_.sectors || d.nr_sectors > o_.sectors - d.sector_number)
                return BLKIF_RSP_ERROR;
            std::memset(disk_.data() + d.sector_number * 512, 0, d.nr_sectors * 512);
            return BLKIF_RSP_OKAY;
        }
        if (op != BLKIF_OP_READ && op != BLKIF_OP_WRITE) return BLKIF_RSP_EOPNOTSUPP;
        if (op == BLKIF_OP_WRITE && o_.readonly) return BLKIF_RSP_ERROR;
        for (const auto& s : segs) {
            if (s.first_sect > s.last_sect || s.last_sect > 7) return BLKIF_RSP_ERROR;
            uint32_t n = s.last_sect - s.first_sect + 1;
            if (sector + n > o_.sectors) return BLKIF_RSP_ERROR;
            hv::GrantMapping temp;
            hv::GrantMapping* page = data_page(s.gref, op == BLKIF_OP_READ, temp);
            if (!page) return BLKIF_RSP_ERROR;
            uint8_t* at = disk_.data() + sector * 512;
            if (op == BLKIF_OP_READ) {
                auto dst = page->writable_page();
                if (dst.empty()) return BLKIF_RSP_ERROR;
                std::memcpy(dst.data() + s.first_sect * 512, at, n * 512);
            } else {
                std::memcpy(at, page->page().data() + s.first_sect * 512, n * 512);
            }
            sector += n;
        }
        return BLKIF_RSP_OKAY;
    }

    ScriptedXenbus xb_;  // first: destroyed last, after its thread stopped
    hv::Domain* dom_;
    BackendOptions o_;
    std::vector<uint8_t> disk_;
    const std::string fe_, be_;
    std::string protocol_;
    bool fe_persistent_ = false;
    std::vector<hv::GrantMapping> ring_;
    std::map<grant_ref_t, hv::GrantMapping> persistent_;
    uint32_t nr_ents_ = 0, req_cons_ = 0, rsp_prod_ = 0;
    std::atomic<uint64_t> requests_{0}, indirect_{0};
};

class Blkfront : public IntegrationTest {
  protected:
    hv::Hypervisor hv_;
    launch::StoreService store_{hv_};

    // Boots `app` with a disk served by a backend with `o`, and waits for it to stop.
    struct Run {
        std::string text;
        std::optional<uint32_t> status;
    };
    Run run(const std::string& app, const std::string& cmdline, const BackendOptions& o,
            std::unique_ptr<ScriptedBlkBackend>* keep = nullptr, uint32_t vcpus = 2) {
        ApiGuest g(hv_, app, cmdline, vcpus, 64, "", &store_);
        auto backend = std::make_unique<ScriptedBlkBackend>(store_, g.ptr(), o);
        backend->plug();
        g.start();
        auto state = g.wait_for_stop(20s);
        EXPECT_EQ(state, std::optional(hv::DomainState::Shutdown)) << g.console().text();
        Run r{g.console().text(), g.domain().exit_status()};
        if (keep) *keep = std::move(backend);
        return r;
    }
};

TEST_F(Blkfront, VerifiesAWritableDiskThroughIndirectPersistentRequests) {
    std::unique_ptr<ScriptedBlkBackend> be;
    Run r = run("blktest", "seed=7 count=2048", BackendOptions{}, &be);
    EXPECT_EQ(r.status, std::optional<uint32_t>(0)) << r.text;
    EXPECT_NE(r.text.find("blktest: xvda sectors=8192 sector-size=512 ro=0\n"), std::string::npos)
        << r.text;
    EXPECT_NE(r.text.find("blktest: features persistent=1 segments=256"), std::string::npos)
        << r.text;
    EXPECT_NE(r.text.find("blktest: ok\n"), std::string::npos) << r.text;
    EXPECT_GT(be->indirect_requests(), 0u);
    uint8_t want[512];
    for (uint64_t s = 0; s < 2048; ++s) {
        xenolith_common::fill_sector(want, s, 7);
        ASSERT_EQ(std::memcmp(be->disk().data() + s * 512, want, 512), 0) << "sector " << s;
    }
    EXPECT_EQ(be->be_state(), "6");  // blktest closed the device: the backend followed
}

TEST_F(Blkfront, VerifiesAWritableDiskThroughPerRequestGrants) {
    BackendOptions o;
    o.persistent = false;
    o.indirect = 0;
    o.max_ring_order = 0;
    o.discard = true;
    Run r = run("blktest", "seed=3 count=700", o);
    EXPECT_EQ(r.status, std::optional<uint32_t>(0)) << r.text;
    EXPECT_NE(r.text.find("blktest: features persistent=0 segments=11 flush=1 barrier=0 discard=1 "
                          "ring-pages=1 slots=32"),
              std::string::npos)
        << r.text;
    EXPECT_NE(r.text.find("blktest: discard sectors 0..7 rc=0\n"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("blktest: ok\n"), std::string::npos) << r.text;
}

TEST_F(Blkfront, AReadOnlyDiskRefusesWrites) {
    BackendOptions o;
    o.readonly = true;
    Run r = run("blktest", "expect_ro=1", o);
    EXPECT_EQ(r.status, std::optional<uint32_t>(0)) << r.text;
    EXPECT_NE(r.text.find("blktest: read-only write rc=-30 (frontend)\n"), std::string::npos)
        << r.text;
    EXPECT_NE(r.text.find("blktest: read-only write rc=-5 (backend)\n"), std::string::npos)
        << r.text;
    EXPECT_NE(r.text.find("blktest: ok\n"), std::string::npos) << r.text;
}

TEST_F(Blkfront, AResponseWithABadIdDisablesTheDevice) {
    BackendOptions o;
    o.bad_response_id = true;
    Run r = run("blktest", "", o);
    EXPECT_EQ(r.status, std::optional<uint32_t>(1)) << r.text;
    EXPECT_NE(r.text.find("blkfront: xvda: bad response (id=100000"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("blktest: FAIL write (old pattern): rc=-5\n"), std::string::npos)
        << r.text;
}

TEST_F(Blkfront, JournalRecordsAreOnDiskWhenReportedDurable) {
    std::unique_ptr<ScriptedBlkBackend> be;
    Run r = run("blktest", "mode=journal start=100 records=40 seed=5", BackendOptions{}, &be);
    EXPECT_EQ(r.status, std::optional<uint32_t>(0)) << r.text;
    size_t durable = 0;
    for (const auto& line : split_lines(r.text)) {
        unsigned long long seq;
        unsigned crc;
        if (sscanf(line.c_str(), "blktest: durable seq=%llu crc=%x", &seq, &crc) != 2) continue;
        ++durable;
        EXPECT_EQ(xenolith_common::crc32(be->disk().data() + (100 + seq - 1) * 512, 512), crc)
            << line;
    }
    EXPECT_EQ(durable, 40u) << r.text;
}

TEST_F(Blkfront, BenchKeepsTheRingBusy) {
    Run r = run("blkbench", "mode=randread mib=2 qd=32 seconds=0.3", BackendOptions{});
    EXPECT_EQ(r.status, std::optional<uint32_t>(0)) << r.text;
    EXPECT_NE(r.text.find("blkbench: randread bytes="), std::string::npos) << r.text;
    r = run("blkbench", "mode=seqwrite mib=4 qd=4 seconds=0.3", BackendOptions{});
    EXPECT_EQ(r.status, std::optional<uint32_t>(0)) << r.text;
    EXPECT_NE(r.text.find("blkbench: seqwrite bytes="), std::string::npos) << r.text;
}

TEST_F(Blkfront, HotplugAndUnplugAreSeen) {
    ApiGuest g(hv_, "blktest", "mode=wait-hotplug count=1 unplug=1 seconds=15", 1, 64, "", &store_);
    g.start();
    ASSERT_TRUE(g.console().wait_for("blktest: waiting for 1 hotplug(s)", 10s))
        << g.console().text();
    ScriptedBlkBackend be(store_, g.ptr(), BackendOptions{});
    be.plug();
    ASSERT_TRUE(g.console().wait_for("blktest: hotplug 51712 read rc=0", 10s))
        << g.console().text();
    be.unplug();
    auto state = g.wait_for_stop(15s);
    EXPECT_EQ(state, std::optional(hv::DomainState::Shutdown)) << g.console().text();
    std::string text = g.console().text();
    EXPECT_NE(text.find("blktest: hotplug 51712 sectors=8192\n"), std::string::npos) << text;
    EXPECT_NE(text.find("blkfront: xvda: backend is Closing: device gone"), std::string::npos)
        << text;
    EXPECT_NE(text.find("blktest: unplug 51712\n"), std::string::npos) << text;
    EXPECT_EQ(g.domain().exit_status(), std::optional<uint32_t>(0)) << text;
}

TEST_F(Blkfront, OpeningAMissingDiskFailsCleanly) {
    ApiGuest g(hv_, "blktest", "dev=51712", 1, 32, "", &store_);
    g.start();
    EXPECT_EQ(g.wait_for_stop(10s), std::optional(hv::DomainState::Shutdown)) << g.console().text();
    EXPECT_NE(g.console().text().find("blktest: open device/vbd/51712 failed: rc=-19\n"),
              std::string::npos)
        << g.console().text();
    EXPECT_EQ(g.domain().exit_status(), std::optional<uint32_t>(1));
}

}  // namespace
}  // namespace xenolith::integration
