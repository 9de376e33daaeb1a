// Validation and decoding of one blkif request, as the frontend put it on the shared ring.
// Pure functions on a private copy: the caller copies the request out of the ring first,
// since the guest may rewrite the slot while it is being read.
//
// A request that fails a check is answered with the BLKIF_RSP_* status returned here and
// goes no further; the reason is for logs and tests.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backends/blkback/blkif.hpp"

namespace xenolith::blkback {

// Sectors per 4 KiB page, the range of a segment's first_sect/last_sect.
inline constexpr uint8_t kSectorsPerPage = 8;
// Segments one indirect page holds.
inline constexpr uint32_t kSegmentsPerIndirectPage = 4096 / sizeof(blkif_request_segment);
// The most indirect segments a backend may advertise: what BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST
// pages hold.
inline constexpr uint32_t kMaxIndirectSegmentsCeiling =
    BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * kSegmentsPerIndirectPage;

// What the checks need to know of the disk and of what the backend advertised.
struct DiskLimits {
    uint64_t sectors = 0;  // capacity, 512-byte sectors
    bool readonly = false;
    bool discard = false;                // discards advertised and possible
    uint32_t max_indirect_segments = 0;  // 0: BLKIF_OP_INDIRECT not advertised
};

enum class BlkOp : uint8_t { Read, Write, Flush, Barrier, Discard };

struct BlkRequest {
    uint64_t id = 0;
    // What the response echoes: the request's operation (an indirect request's indirect_op).
    uint8_t response_op = 0;
    BlkOp op = BlkOp::Read;
    uint64_t sector = 0;  // first 512-byte sector
    uint64_t nr_sectors =
        0;  // data sectors (Read, Write, Flush/Barrier with data) or discarded ones
    bool indirect = false;
    uint32_t nr_segments = 0;
    // The indirect pages' grants (indirect requests only; the first nr_indirect_pages).
    uint32_t nr_indirect_pages = 0;
    grant_ref_t indirect_refs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST] = {};
    // Direct requests: the segments, filled by decode_request. Indirect requests: the caller
    // copies them out of the indirect pages, then calls check_segments.
    std::vector<blkif_request_segment> segments;

    // Whether the guest's pages are written (a read from disk) or only read.
    bool writes_guest_memory() const { return op == BlkOp::Read; }
};

struct Verdict {
    int16_t status = BLKIF_RSP_OKAY;
    const char* reason = "";
    bool ok() const { return status == BLKIF_RSP_OKAY; }
};

// Decodes `req` into `out` (reusing its segments' capacity). On any verdict, out.id and
// out.response_op are set for the response. Direct requests come back fully checked;
// an indirect one is checked up to its segments, which the caller loads into
// out.segments (out.nr_segments of them) and passes to check_segments.
Verdict decode_request(const blkif_request_t& req, const DiskLimits& limits, BlkRequest& out);

// Checks out.segments (each within its page) and the sector range they cover (inside the
// disk, without overflow), and sets out.nr_sectors.
Verdict check_segments(BlkRequest& out, const DiskLimits& limits);

}  // namespace xenolith::blkback
