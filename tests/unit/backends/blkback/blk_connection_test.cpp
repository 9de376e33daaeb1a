// A connected vbd end to end, on both I/O engines: the test plays the frontend (grants,
// ring and event channel written straight into a never-started domain's RAM) against a
// temporary image file, and checks data byte for byte, flush and barrier ordering,
// discard, persistent grants, a read-only disk, and every hostile request it can think
// of; the ring thread must survive them all, and a corrupt ring disconnects the device.
#include "backends/blkback/blk_connection.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <mutex>

#include "base/error.hpp"
#include "tests/unit/backends/blkback/blk_frontend.hpp"
#include "tests/unit/backends/blkback/temp_image.hpp"

namespace xenolith::blkback {
namespace {

using testing::BlkFrontend;
using testing::pattern_byte;
using testing::rw_request;
using testing::TempImage;

constexpr uint64_t kImageBytes = 4 << 20;

class BlkConnectionTest : public ::testing::TestWithParam<IoEngineKind> {
  protected:
    void SetUp() override {
        static int serial = 0;
        front_ = std::make_unique<BlkFrontend>("blk-" + std::to_string(++serial));
    }
    void TearDown() override {
        conn_.reset();
        front_.reset();
    }

    BlkConnection::Options options() {
        BlkConnection::Options o;
        o.engine = GetParam();
        o.log = [this](std::string_view line) {
            std::lock_guard lock(log_mutex_);
            log_.emplace_back(line);
        };
        return o;
    }
    void connect(Image::Access access = Image::Access::ReadWrite, bool persistent = false) {
        image_ = Image::open(file_.path(), access);
        FrontendRing ring{front_->ring_refs, front_->port, persistent, "x86_64-abi"};
        conn_ = std::make_unique<BlkConnection>(
            front_->shared_domain(), image_, ring, options(),
            "vbd 51712 of domain " + std::to_string(front_->domain().id()));
    }
    std::vector<std::string> log() {
        std::lock_guard lock(log_mutex_);
        return log_;
    }
    // Fills data page i with `value` and grants it.
    grant_ref_t page_of(uint32_t i, uint8_t value, bool readonly = false) {
        std::memset(front_->data(i), value, 4096);
        return front_->grant_data(i, readonly);
    }
    // Reads [sector, sector + 8 * pages) into data pages from `first`, one full-page segment each.
    int16_t read_pages(uint64_t id, uint64_t sector, uint32_t first, uint32_t pages) {
        blkif_request_t r = rw_request(BLKIF_OP_READ, id, sector, {});
        r.nr_segments = static_cast<uint8_t>(pages);
        for (uint32_t i = 0; i < pages; ++i) r.seg[i] = {page_of(first + i, 0), 0, 7};
        return front_->roundtrip(r);
    }

    TempImage file_{kImageBytes};
    std::unique_ptr<BlkFrontend> front_;
    std::shared_ptr<Image> image_;
    std::unique_ptr<BlkConnection> conn_;
    std::mutex log_mutex_;
    std::vector<std::string> log_;
};

TEST_P(BlkConnectionTest, WriteThenReadSeveralSegmentsByteForByte) {
    connect();
    EXPECT_STREQ(conn_->engine_name(), to_string(GetParam()));
    EXPECT_EQ(conn_->ring_size(), 32u);
    // Three segments: a whole page, sectors 2..5 of a page, sector 7 of a page.
    blkif_request_t w =
        rw_request(BLKIF_OP_WRITE, 41, 100,
                   {{page_of(0, 0x11), 0, 7}, {page_of(1, 0x22), 2, 5}, {page_of(2, 0x33), 7, 7}});
    ASSERT_EQ(front_->roundtrip(w), BLKIF_RSP_OKAY);
    auto disk = file_.read(100 * 512, 13 * 512 + 1);
    for (size_t i = 0; i < 13 * 512; ++i) {
        uint8_t want = i < 4096 ? 0x11 : i < 4096 + 2048 ? 0x22 : 0x33;
        ASSERT_EQ(disk[i], want) << i;
    }
    EXPECT_EQ(disk[13 * 512], pattern_byte(113 * 512));

    blkif_request_t r =
        rw_request(BLKIF_OP_READ, 42, 100,
                   {{page_of(3, 0), 0, 7}, {page_of(4, 0xee), 1, 4}, {page_of(5, 0xee), 0, 0}});
    ASSERT_EQ(front_->roundtrip(r), BLKIF_RSP_OKAY);
    for (size_t i = 0; i < 4096; ++i) ASSERT_EQ(front_->data(3)[i], 0x11);
    // Sectors 1..4 of page 4 now hold disk sectors 108..111 (the second written segment);
    // the rest of the page is untouched.
    for (size_t i = 0; i < 4096; ++i) {
        uint8_t want = i < 512 || i >= 2560 ? 0xee : 0x22;
        ASSERT_EQ(front_->data(4)[i], want) << i;
    }
    for (size_t i = 0; i < 512; ++i) ASSERT_EQ(front_->data(5)[i], 0x33) << i;
    for (size_t i = 512; i < 4096; ++i) ASSERT_EQ(front_->data(5)[i], 0xee) << i;
    auto s = conn_->stats();
    EXPECT_EQ(s.requests, 2u);
    EXPECT_EQ(s.bytes_written, 13u * 512);
    EXPECT_EQ(s.bytes_read, 13u * 512);
    EXPECT_EQ(s.errors, 0u);
    // Non-persistent: nothing stays mapped after the responses.
    EXPECT_EQ(front_->pins(front_->kFirstDataRef), 0u);
}

TEST_P(BlkConnectionTest, IndirectRequestMovesManyPages) {
    connect();
    constexpr uint32_t kSegs = 40;  // more than 11, in one indirect page
    auto* segs = reinterpret_cast<blkif_request_segment*>(front_->data(100));
    for (uint32_t i = 0; i < kSegs; ++i) segs[i] = {page_of(i, static_cast<uint8_t>(i + 1)), 0, 7};
    grant_ref_t ind_ref = front_->grant_data(100, true);
    blkif_request_indirect_t ind{};
    ind.operation = BLKIF_OP_INDIRECT;
    ind.indirect_op = BLKIF_OP_WRITE;
    ind.nr_segments = kSegs;
    ind.id = 7;
    ind.sector_number = 1024;
    ind.indirect_grefs[0] = ind_ref;
    front_->queue_as(ind);
    front_->push();
    auto resp = front_->response();
    ASSERT_TRUE(resp);
    EXPECT_EQ(resp->id, 7u);
    EXPECT_EQ(resp->operation, BLKIF_OP_WRITE);  // the indirect_op, as Linux blkfront expects
    EXPECT_EQ(resp->status, BLKIF_RSP_OKAY);
    auto disk = file_.read(1024 * 512, kSegs * 4096);
    for (uint32_t p = 0; p < kSegs; ++p) ASSERT_EQ(disk[p * 4096 + 99], p + 1) << p;

    // And read back into fresh pages through an indirect read.
    for (uint32_t i = 0; i < kSegs; ++i) segs[i] = {page_of(200 + i, 0, false), 0, 7};
    ind.indirect_op = BLKIF_OP_READ;
    ind.id = 8;
    front_->queue_as(ind);
    front_->push();
    resp = front_->response();
    ASSERT_TRUE(resp);
    EXPECT_EQ(resp->status, BLKIF_RSP_OKAY);
    for (uint32_t p = 0; p < kSegs; ++p) ASSERT_EQ(front_->data(200 + p)[4095], p + 1) << p;
}

TEST_P(BlkConnectionTest, FlushAndBarrierComplete) {
    connect();
    ASSERT_EQ(front_->roundtrip(rw_request(BLKIF_OP_WRITE, 1, 8, {{page_of(0, 0x5a), 0, 7}})),
              BLKIF_RSP_OKAY);
    ASSERT_EQ(front_->roundtrip(rw_request(BLKIF_OP_FLUSH_DISKCACHE, 2, 0, {})), BLKIF_RSP_OKAY);
    // A barrier behind a batch of writes, and a read behind the barrier that must see it.
    for (uint32_t i = 0; i < 8; ++i)
        front_->queue(rw_request(BLKIF_OP_WRITE, 10 + i, 64 + 8 * i,
                                 {{page_of(1 + i, static_cast<uint8_t>(0x80 + i)), 0, 7}}));
    front_->queue(rw_request(BLKIF_OP_WRITE_BARRIER, 20, 64, {{page_of(10, 0xcc), 0, 0}}));
    front_->queue(rw_request(BLKIF_OP_READ, 21, 64, {{page_of(11, 0), 0, 7}}));
    front_->push();
    std::map<uint64_t, blkif_response_t> got;
    std::vector<uint64_t> order;
    for (int i = 0; i < 10; ++i) {
        auto r = front_->response();
        ASSERT_TRUE(r) << i;
        got[r->id] = *r;
        order.push_back(r->id);
    }
    for (auto& [id, r] : got) EXPECT_EQ(r.status, BLKIF_RSP_OKAY) << id;
    EXPECT_EQ(got[20].operation, BLKIF_OP_WRITE_BARRIER);
    // Everything before the barrier was answered before it, and the read after it.
    auto pos = [&](uint64_t id) {
        return std::find(order.begin(), order.end(), id) - order.begin();
    };
    for (uint64_t id = 10; id < 18; ++id) EXPECT_LT(pos(id), pos(20)) << id;
    EXPECT_LT(pos(20), pos(21));
    for (size_t i = 0; i < 512; ++i) ASSERT_EQ(front_->data(11)[i], 0xcc);
    for (size_t i = 512; i < 4096; ++i) ASSERT_EQ(front_->data(11)[i], 0x80);
    // A flush carrying data writes it, then syncs.
    ASSERT_EQ(front_->roundtrip(
                  rw_request(BLKIF_OP_FLUSH_DISKCACHE, 3, 256, {{page_of(12, 0x77), 0, 7}})),
              BLKIF_RSP_OKAY);
    EXPECT_EQ(file_.read(256 * 512, 1)[0], 0x77);
    EXPECT_EQ(conn_->stats().flushes, 3u);
}

TEST_P(BlkConnectionTest, DiscardPunchesAHole) {
    connect();
    uint64_t before = file_.allocated_blocks();
    blkif_request_discard_t d{};
    d.operation = BLKIF_OP_DISCARD;
    d.id = 5;
    d.sector_number = 2048;
    d.nr_sectors = 2048;  // 1 MiB
    blkif_request_t raw{};
    std::memcpy(&raw, &d, sizeof d);
    ASSERT_EQ(front_->roundtrip(raw), BLKIF_RSP_OKAY);
    EXPECT_LE(file_.allocated_blocks() + 2048, before);
    auto zeros = file_.read(2048 * 512, 2048 * 512);
    for (uint8_t v : zeros) ASSERT_EQ(v, 0);
    EXPECT_EQ(conn_->stats().discards, 1u);
    // Secure discard is not offered.
    d.flag = BLKIF_DISCARD_SECURE;
    std::memcpy(&raw, &d, sizeof d);
    EXPECT_EQ(front_->roundtrip(raw), BLKIF_RSP_EOPNOTSUPP);
}

TEST_P(BlkConnectionTest, PersistentGrantsStayMappedAndAreReused) {
    connect(Image::Access::ReadWrite, true);
    grant_ref_t a = page_of(0, 0x42), b = page_of(1, 0x43);
    ASSERT_EQ(front_->roundtrip(rw_request(BLKIF_OP_WRITE, 1, 0, {{a, 0, 7}, {b, 0, 7}})),
              BLKIF_RSP_OKAY);
    EXPECT_EQ(front_->pins(a), 1u);
    EXPECT_EQ(front_->pins(b), 1u);
    EXPECT_EQ(conn_->stats().persistent_grants, 2u);
    // The same grants again, and a read into them (now mapped writable too): no new pins
    // per request, and the data is right.
    ASSERT_EQ(front_->roundtrip(rw_request(BLKIF_OP_WRITE, 2, 16, {{a, 0, 7}})), BLKIF_RSP_OKAY);
    EXPECT_EQ(front_->pins(a), 1u);
    ASSERT_EQ(front_->roundtrip(rw_request(BLKIF_OP_READ, 3, 8, {{a, 0, 7}})), BLKIF_RSP_OKAY);
    ASSERT_EQ(front_->roundtrip(rw_request(BLKIF_OP_READ, 4, 8, {{a, 0, 7}})), BLKIF_RSP_OKAY);
    EXPECT_EQ(front_->pins(a), 2u);  // its read-only and its writable mapping
    EXPECT_EQ(front_->data(0)[0], 0x43);
    EXPECT_EQ(conn_->stats().persistent_grants, 2u);
    // While mapped the guest cannot take the grant back; after disconnecting it can.
    conn_.reset();
    EXPECT_EQ(front_->pins(a), 0u);
    EXPECT_EQ(front_->pins(b), 0u);
    EXPECT_EQ(front_->entry(a).flags & (GTF_reading | GTF_writing), 0);
}

TEST_P(BlkConnectionTest, ReadOnlyImageRefusesWritesAndServesReads) {
    connect(Image::Access::ReadOnly);
    EXPECT_EQ(front_->roundtrip(rw_request(BLKIF_OP_WRITE, 1, 0, {{page_of(0, 1, true), 0, 7}})),
              BLKIF_RSP_ERROR);
    EXPECT_EQ(read_pages(2, 16, 1, 2), BLKIF_RSP_OKAY);
    EXPECT_EQ(front_->data(1)[3], pattern_byte(16 * 512 + 3));
    EXPECT_EQ(front_->data(2)[4095], pattern_byte(16 * 512 + 8191));
    EXPECT_EQ(file_.read(0, 1)[0], pattern_byte(0));
    auto features = BlkConnection::backend_features(*image_, options());
    auto info =
        std::find_if(features.begin(), features.end(), [](auto& kv) { return kv.first == "info"; });
    ASSERT_NE(info, features.end());
    EXPECT_EQ(info->second, std::to_string(VDISK_READONLY));
}

TEST_P(BlkConnectionTest, HostileRequestsGetErrorsAndTheRingThreadCarriesOn) {
    connect();
    grant_ref_t good = page_of(0, 0);
    grant_ref_t ro = page_of(1, 0, true);
    constexpr uint64_t kEnd = kImageBytes / 512;
    // A reference never granted, and one past the table.
    EXPECT_EQ(front_->roundtrip(rw_request(BLKIF_OP_READ, 1, 0, {{good, 0, 7}, {900, 0, 7}})),
              BLKIF_RSP_ERROR);
    EXPECT_EQ(front_->roundtrip(rw_request(BLKIF_OP_READ, 2, 0, {{0xfffffff0u, 0, 7}})),
              BLKIF_RSP_ERROR);
    EXPECT_EQ(front_->pins(good), 0u);  // the segment mapped before the bad one was let go
    // A read-only grant cannot receive a read; it can source a write.
    EXPECT_EQ(front_->roundtrip(rw_request(BLKIF_OP_READ, 3, 0, {{ro, 0, 7}})), BLKIF_RSP_ERROR);
    EXPECT_EQ(front_->roundtrip(rw_request(BLKIF_OP_WRITE, 4, 0, {{ro, 0, 7}})), BLKIF_RSP_OKAY);
    EXPECT_EQ(front_->roundtrip(rw_request(BLKIF_OP_READ, 5, 0, {{good, 6, 2}})), BLKIF_RSP_ERROR);
    EXPECT_EQ(front_->roundtrip(rw_request(BLKIF_OP_READ, 6, 0, {{good, 0, 8}})), BLKIF_RSP_ERROR);
    EXPECT_EQ(front_->roundtrip(rw_request(BLKIF_OP_READ, 7, kEnd - 4, {{good, 0, 7}})),
              BLKIF_RSP_ERROR);
    EXPECT_EQ(front_->roundtrip(rw_request(
                  BLKIF_OP_READ, 8, std::numeric_limits<uint64_t>::max() - 2, {{good, 0, 7}})),
              BLKIF_RSP_ERROR);
    EXPECT_EQ(front_->roundtrip(rw_request(BLKIF_OP_READ, 9, 0, {})), BLKIF_RSP_ERROR);
    blkif_request_t many = rw_request(BLKIF_OP_WRITE, 10, 0, {{good, 0, 7}});
    many.nr_segments = 200;
    EXPECT_EQ(front_->roundtrip(many), BLKIF_RSP_ERROR);
    blkif_request_t unknown = rw_request(99, 11, 0, {{good, 0, 7}});
    EXPECT_EQ(front_->roundtrip(unknown), BLKIF_RSP_EOPNOTSUPP);
    // An indirect request whose indirect page is not granted, and one with too many segments.
    blkif_request_indirect_t ind{};
    ind.operation = BLKIF_OP_INDIRECT;
    ind.indirect_op = BLKIF_OP_READ;
    ind.nr_segments = 20;
    ind.id = 12;
    ind.indirect_grefs[0] = 901;
    front_->queue_as(ind);
    ind.id = 13;
    ind.nr_segments = 5000;
    front_->queue_as(ind);
    front_->push();
    for (uint64_t id : {12, 13}) {
        auto r = front_->response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->id, id);
        EXPECT_EQ(r->status, BLKIF_RSP_ERROR);
    }
    // Still serving.
    EXPECT_EQ(read_pages(14, 0, 2, 1), BLKIF_RSP_OKAY);
    EXPECT_EQ(front_->data(2)[0], 0);  // request 4 wrote the (zeroed) read-only page there
    EXPECT_FALSE(conn_->broken());
    EXPECT_EQ(conn_->stats().errors, 12u);
    EXPECT_TRUE(log().empty());  // bad requests are answered, not logged
}

TEST_P(BlkConnectionTest, ProducerAheadOfTheRingDisconnectsWithOneLogLine) {
    connect();
    EXPECT_EQ(read_pages(1, 0, 0, 1), BLKIF_RSP_OKAY);
    front_->sring()->req_prod = front_->front().req_prod_pvt + 1000;
    front_->kick();
    for (int i = 0; i < 500 && !conn_->broken(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(conn_->broken());
    EXPECT_NE(conn_->broken_reason().find("producer index"), std::string::npos)
        << conn_->broken_reason();
    front_->kick();
    front_->kick();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto lines = log();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("vbd 51712 of domain " + std::to_string(front_->domain().id())),
              std::string::npos)
        << lines[0];
    EXPECT_NE(lines[0].find("producer index"), std::string::npos);
}

TEST_P(BlkConnectionTest, RequestStormIsBoundedByTheRing) {
    connect();
    // Fill the whole ring, publish, and keep the backend busy: every request is answered
    // and no more than the ring's worth is ever outstanding.
    for (uint32_t round = 0; round < 4; ++round) {
        for (uint32_t i = 0; i < 32; ++i)
            front_->queue(
                rw_request(BLKIF_OP_READ, round * 32 + i, 8 * i, {{page_of(i, 0), 0, 7}}));
        front_->push();
        for (uint32_t i = 0; i < 32; ++i) {
            auto r = front_->response();
            ASSERT_TRUE(r) << round << " " << i;
            EXPECT_EQ(r->status, BLKIF_RSP_OKAY);
        }
    }
    EXPECT_EQ(conn_->stats().requests, 128u);
    EXPECT_EQ(conn_->stats().bytes_read, 128u * 4096);
}

TEST_P(BlkConnectionTest, MultiPageRingAcrossScatteredGuestPages) {
    conn_.reset();
    front_ = std::make_unique<BlkFrontend>("blk-ring4", 4);
    connect();
    EXPECT_EQ(conn_->ring_size(), 128u);
    for (uint32_t i = 0; i < 100; ++i)
        front_->queue(rw_request(BLKIF_OP_READ, i, i, {{page_of(i % 50, 0), 0, 0}}));
    front_->push();
    for (uint32_t i = 0; i < 100; ++i) {
        auto r = front_->response();
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->status, BLKIF_RSP_OKAY);
    }
    conn_.reset();
    for (grant_ref_t ref : front_->ring_refs) EXPECT_EQ(front_->pins(ref), 0u);
}

TEST_P(BlkConnectionTest, ConnectRefusesForeignProtocolsAndBadRings) {
    image_ = Image::open(file_.path(), Image::Access::ReadWrite);
    auto make = [&](FrontendRing ring) {
        return std::make_unique<BlkConnection>(front_->shared_domain(), image_, ring, options(),
                                               "vbd 1");
    };
    try {
        make({front_->ring_refs, front_->port, false, "x86_32-abi"});
        FAIL() << "x86_32 accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("x86_32-abi"), std::string::npos);
    }
    EXPECT_THROW(make({{}, front_->port, false, ""}), Error);
    EXPECT_THROW(make({{front_->kRingRef, 900, 901}, front_->port, false, ""}), Error);  // 3 pages
    EXPECT_THROW(make({{900}, front_->port, false, ""}), Error);      // not granted
    EXPECT_THROW(make({front_->ring_refs, 4000, false, ""}), Error);  // no such port
    EXPECT_EQ(front_->pins(front_->kRingRef), 0u);
    // Native, by either name.
    EXPECT_NO_THROW(make({front_->ring_refs, front_->port, false, ""}));
}

TEST_P(BlkConnectionTest, BackendFeaturesDescribeTheImage) {
    image_ = Image::open(file_.path(), Image::Access::ReadWrite);
    BlkConnection::Options o = options();
    o.cdrom = true;
    auto nodes = BlkConnection::backend_features(*image_, o);
    std::map<std::string, std::string> m(nodes.begin(), nodes.end());
    EXPECT_EQ(m["feature-flush-cache"], "1");
    EXPECT_EQ(m["feature-barrier"], "1");
    EXPECT_EQ(m["feature-discard"], "1");
    EXPECT_EQ(m["discard-secure"], "0");
    EXPECT_EQ(m["discard-alignment"], "0");
    EXPECT_EQ(m["feature-max-indirect-segments"], "256");
    EXPECT_EQ(m["feature-persistent"], "1");
    EXPECT_EQ(m["max-ring-page-order"], "4");
    EXPECT_EQ(m["sectors"], std::to_string(kImageBytes / 512));
    EXPECT_EQ(m["sector-size"], "512");
    EXPECT_EQ(m["info"], std::to_string(VDISK_CDROM));
    EXPECT_EQ(nodes.size(), 13u);
}

INSTANTIATE_TEST_SUITE_P(Engines, BlkConnectionTest,
                         ::testing::Values(IoEngineKind::Uring, IoEngineKind::Worker),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace xenolith::blkback
