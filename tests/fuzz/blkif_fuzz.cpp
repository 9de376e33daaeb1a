// Hostile blkif frontends. The first input byte picks a mode:
//  - even: the rest is a disk description byte and a run of blkif requests, each decoded by
//    decode_request/check_segments (an indirect request's segments follow it). Whatever
//    is accepted must be within its pages and the disk; a trap says otherwise.
//  - odd: the rest (bit 1: with persistent grants) is a whole shared ring page and then the
//  contents of 16 granted data
//    pages (8 writable, 8 read-only), served by a real BlkConnection on a never-started
//    domain and a temporary image. Every request taken off the ring must be answered once
//    (unless the ring was found corrupt and the device disconnected), and no grant may
//    stay pinned once the connection is gone.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "backends/blkback/blk_connection.hpp"
#include "backends/blkback/blkif_request.hpp"
#include "hv/hypervisor.hpp"
#include "tests/support/null_platform.hpp"
#include "tests/support/test_domain.hpp"

namespace {

using namespace xenolith;
using namespace xenolith::blkback;

constexpr uint64_t kDiskSectors = 2048;  // 1 MiB
constexpr grant_ref_t kRingRef = 8;
constexpr grant_ref_t kDataRef = 64;
constexpr uint32_t kDataPages = 16;
constexpr uint32_t kOnePageRingSize = 32;

void check_accepted(const BlkRequest& r, const DiskLimits& limits) {
    if (r.op == BlkOp::Discard) {
        if (r.sector > limits.sectors || r.nr_sectors > limits.sectors - r.sector) __builtin_trap();
        return;
    }
    uint64_t total = 0;
    for (const auto& s : r.segments) {
        if (s.first_sect > s.last_sect || s.last_sect > 7) __builtin_trap();
        total += s.last_sect - s.first_sect + 1u;
    }
    if (total != r.nr_sectors || r.segments.size() != r.nr_segments) __builtin_trap();
    // A flush or barrier without data names no sectors (its sector_number is not used).
    if (total > 0 && (r.sector > limits.sectors || total > limits.sectors - r.sector))
        __builtin_trap();
    if (limits.readonly && r.op != BlkOp::Read && (r.op != BlkOp::Flush || total != 0) &&
        (r.op != BlkOp::Barrier || total != 0))
        __builtin_trap();
}

void fuzz_decoder(const uint8_t* data, size_t size) {
    if (size < 1) return;
    DiskLimits limits;
    limits.sectors = (data[0] & 0x80) ? kDiskSectors : uint64_t{data[0]} * 8;
    limits.readonly = data[0] & 1;
    limits.discard = data[0] & 2;
    limits.max_indirect_segments = (data[0] & 4) ? 256 : 0;
    ++data;
    --size;
    BlkRequest r;
    while (size >= sizeof(blkif_request_t)) {
        blkif_request_t req;
        std::memcpy(&req, data, sizeof req);
        data += sizeof req;
        size -= sizeof req;
        Verdict v = decode_request(req, limits, r);
        if (v.ok() && r.indirect) {
            if (r.nr_segments == 0 || r.nr_segments > 256) __builtin_trap();
            size_t want = r.nr_segments * sizeof(blkif_request_segment);
            size_t take = want < size ? want : size;
            r.segments.assign(r.nr_segments, blkif_request_segment{});
            std::memcpy(r.segments.data(), data, take);
            data += take;
            size -= take;
            v = check_segments(r, limits);
        }
        if (v.ok()) check_accepted(r, limits);
        if (!v.ok() && *v.reason == '\0') __builtin_trap();  // every refusal says why
    }
}

struct RingTarget {
    hv::Hypervisor hv{std::make_unique<xenolith::testing::NullPlatform>()};
    xenolith::testing::TestDomain t;
    std::shared_ptr<Image> image;
    std::string path;
    uint64_t ring_pfn = 0;
    uint32_t port = 0;

    RingTarget() {
        t = xenolith::testing::make_test_domain(hv, "blkfuzz", 16 << 20, 1);
        ring_pfn = (t.plan.layout.first_free >> hv::kPageShift) + 16;
        path = (std::filesystem::temp_directory_path() / "xenolith-blkfuzz-XXXXXX").string();
        int fd = ::mkstemp(path.data());
        if (fd < 0 || ::ftruncate(fd, kDiskSectors * 512) < 0) __builtin_trap();
        ::close(fd);
        image = Image::open(path, Image::Access::ReadWrite);
        grant(kRingRef, ring_pfn, false);
        for (uint32_t i = 0; i < kDataPages; ++i)
            grant(kDataRef + i, ring_pfn + 1 + i, i >= kDataPages / 2);
        port = static_cast<uint32_t>(t.domain->evtchn().alloc_unbound(0));
    }
    ~RingTarget() { ::unlink(path.c_str()); }

    grant_entry_v1_t& entry(grant_ref_t ref) {
        auto frames = t.domain->grant_table().frame_list(1);
        return t.domain->memory().object<grant_entry_v1_t>(frames.at(0) << hv::kPageShift)[ref];
    }
    void grant(grant_ref_t ref, uint64_t pfn, bool readonly) {
        grant_entry_v1_t& e = entry(ref);
        e.frame = static_cast<uint32_t>(pfn);
        e.domid = 0;
        e.flags = static_cast<uint16_t>(GTF_permit_access | (readonly ? GTF_readonly : 0));
    }
    uint8_t* page(uint64_t pfn) { return t.domain->memory().base() + (pfn << hv::kPageShift); }
};

void fuzz_ring(const uint8_t* data, size_t size, bool persistent) {
    static RingTarget target;
    uint8_t* ring = target.page(target.ring_pfn);
    std::memset(ring, 0, (1 + kDataPages) * hv::kPageSize);
    std::memcpy(ring, data,
                size < (1 + kDataPages) * hv::kPageSize ? size : (1 + kDataPages) * hv::kPageSize);
    auto* sring = reinterpret_cast<blkif_sring*>(ring);
    // The backend starts at index 0: a fresh frontend's responses are at 0 too.
    sring->rsp_prod = 0;
    BlkConnection::Options opts;
    opts.engine = IoEngineKind::Worker;  // cheap to start per input
    opts.max_persistent_grants = 4;
    opts.log = [](std::string_view) {};
    {
        FrontendRing fr{{kRingRef}, target.port, persistent, ""};
        BlkConnection conn(target.t.domain, target.image, fr, opts, "fuzz vbd");
        target.t.domain->evtchn().send(target.port);
        conn.stop();  // the ring thread takes the ring once at start: it has all been seen
        RING_IDX answered = std::atomic_ref<RING_IDX>(sring->rsp_prod).load();
        if (!conn.broken() && answered != conn.stats().requests) __builtin_trap();
        if (conn.stats().requests > kOnePageRingSize) __builtin_trap();
    }
    for (uint32_t i = 0; i < kDataPages; ++i)
        if (target.t.domain->grant_table().pins(kDataRef + i) != 0) __builtin_trap();
    if (target.t.domain->grant_table().pins(kRingRef) != 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    if (data[0] & 1)
        fuzz_ring(data + 1, size - 1, data[0] & 2);
    else
        fuzz_decoder(data + 1, size - 1);
    return 0;
}
