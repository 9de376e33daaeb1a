#include "backends/blkback/blkif_request.hpp"

#include <cstring>

namespace xenolith::blkback {

namespace {

constexpr Verdict reject(int16_t status, const char* reason) {
    return {status, reason};
}

// [sector, sector + count) within a disk of `sectors`, without overflow.
bool inside_disk(uint64_t sector, uint64_t count, uint64_t sectors) {
    return sector <= sectors && count <= sectors - sector;
}

Verdict decode_discard(const blkif_request_t& req, const DiskLimits& limits, BlkRequest& out) {
    blkif_request_discard_t d;
    static_assert(sizeof d <= sizeof req);
    std::memcpy(&d, &req, sizeof d);
    out.op = BlkOp::Discard;
    out.sector = d.sector_number;
    out.nr_sectors = d.nr_sectors;
    if (limits.readonly) return reject(BLKIF_RSP_ERROR, "discard on a read-only disk");
    if (!limits.discard)
        return reject(BLKIF_RSP_EOPNOTSUPP, "discard is not supported by this disk");
    if (d.flag & BLKIF_DISCARD_SECURE)
        return reject(BLKIF_RSP_EOPNOTSUPP, "secure discard is not supported");
    if (!inside_disk(d.sector_number, d.nr_sectors, limits.sectors))
        return reject(BLKIF_RSP_ERROR, "discard range extends past the end of the disk");
    return {};
}

Verdict decode_indirect(const blkif_request_t& req, const DiskLimits& limits, BlkRequest& out) {
    blkif_request_indirect_t ind;
    static_assert(sizeof ind <= sizeof req);
    std::memcpy(&ind, &req, sizeof ind);
    out.response_op = ind.indirect_op;
    out.indirect = true;
    out.sector = ind.sector_number;
    out.nr_segments = ind.nr_segments;
    if (limits.max_indirect_segments == 0)
        return reject(BLKIF_RSP_EOPNOTSUPP, "indirect requests are not supported");
    if (ind.indirect_op == BLKIF_OP_READ)
        out.op = BlkOp::Read;
    else if (ind.indirect_op == BLKIF_OP_WRITE)
        out.op = BlkOp::Write;
    else
        return reject(BLKIF_RSP_ERROR, "indirect_op is neither read nor write");
    if (ind.nr_segments == 0 || ind.nr_segments > limits.max_indirect_segments ||
        ind.nr_segments > kMaxIndirectSegmentsCeiling)
        return reject(BLKIF_RSP_ERROR, "indirect nr_segments is 0 or above the advertised maximum");
    if (out.op == BlkOp::Write && limits.readonly)
        return reject(BLKIF_RSP_ERROR, "write to a read-only disk");
    out.nr_indirect_pages =
        (ind.nr_segments + kSegmentsPerIndirectPage - 1) / kSegmentsPerIndirectPage;
    std::memcpy(out.indirect_refs, ind.indirect_grefs, sizeof out.indirect_refs);
    return {};
}

}  // namespace

Verdict decode_request(const blkif_request_t& req, const DiskLimits& limits, BlkRequest& out) {
    out.id = req.id;
    out.response_op = req.operation;
    out.sector = 0;
    out.nr_sectors = 0;
    out.indirect = false;
    out.nr_segments = 0;
    out.nr_indirect_pages = 0;
    out.segments.clear();
    switch (req.operation) {
        case BLKIF_OP_READ:
            out.op = BlkOp::Read;
            break;
        case BLKIF_OP_WRITE:
            out.op = BlkOp::Write;
            break;
        case BLKIF_OP_FLUSH_DISKCACHE:
            out.op = BlkOp::Flush;
            break;
        case BLKIF_OP_WRITE_BARRIER:
            out.op = BlkOp::Barrier;
            break;
        case BLKIF_OP_DISCARD:
            return decode_discard(req, limits, out);
        case BLKIF_OP_INDIRECT:
            return decode_indirect(req, limits, out);
        default:
            return reject(BLKIF_RSP_EOPNOTSUPP, "unknown operation");
    }
    out.sector = req.sector_number;
    out.nr_segments = req.nr_segments;
    // A flush or barrier may carry the data of the write it orders, or nothing.
    bool data_optional = out.op == BlkOp::Flush || out.op == BlkOp::Barrier;
    if ((req.nr_segments == 0 && !data_optional) ||
        req.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST)
        return reject(BLKIF_RSP_ERROR, "nr_segments outside 1..BLKIF_MAX_SEGMENTS_PER_REQUEST");
    if (req.nr_segments == 0) return {};
    if (out.op != BlkOp::Read && limits.readonly)
        return reject(BLKIF_RSP_ERROR, "write to a read-only disk");
    out.segments.assign(req.seg, req.seg + req.nr_segments);
    return check_segments(out, limits);
}

Verdict check_segments(BlkRequest& out, const DiskLimits& limits) {
    if (out.segments.size() != out.nr_segments)
        return reject(BLKIF_RSP_ERROR, "segment count mismatch");
    uint64_t total = 0;
    for (const blkif_request_segment& s : out.segments) {
        if (s.first_sect > s.last_sect || s.last_sect >= kSectorsPerPage)
            return reject(BLKIF_RSP_ERROR,
                          "segment sectors outside its page (first_sect > last_sect or > 7)");
        total += static_cast<uint64_t>(s.last_sect - s.first_sect) + 1;
    }
    out.nr_sectors = total;
    if (!inside_disk(out.sector, total, limits.sectors))
        return reject(BLKIF_RSP_ERROR, "sector range extends past the end of the disk");
    return {};
}

}  // namespace xenolith::blkback
