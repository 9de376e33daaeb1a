// blkbench: block frontend throughput with the ring kept full.
//
//   mode=seqread|seqwrite|randread [dev=<devid>] [mib=64] [qd=] [bs=] [seconds=5] [seed=1]
//   [persistent=0|1]
//
// Keeps `qd` requests in flight (default 8 sequential, 32 random) through a
// CompletionQueue for `seconds`: sequential modes move through the first `mib` MiB of the
// disk in `bs`-byte requests (default 1 MiB, wrapping around), randread reads `bs`-byte
// blocks (default 4096) at random `bs`-aligned offsets there. Persistent grants are
// offered for requests under 64 KiB unless persistent= says otherwise. Prints
//   blkbench: <disk> sectors=N persistent=P segments=S ring-slots=R
//   blkbench: <mode> bytes=B ns=N iops=I mib_per_s=M qd=Q bs=BS
// (seqwrite then `blkbench: flush ns=N`) and exits 0, or `blkbench: FAIL ...` and 1.
#include <pumice/blkfront.hpp>
#include <pumice/pumice.hpp>

using namespace pumice;
using blkfront::kSectorSize;

namespace {

constexpr unsigned kMaxQd = 128;
// From this request size on, persistent grants are not offered unless persistent=1.
constexpr uint32_t kDirectGrantBs = 64 * 1024;

struct Options {
    const char* mode;
    bool write;
    bool random;
    uint64_t region;  // bytes
    uint32_t bs;
    unsigned qd;
    uint64_t ns;
    uint64_t seed;
};

struct Result {
    uint64_t ios = 0;
    uint64_t bytes = 0;
    uint64_t ns = 0;
};

int fail(const char* what, long rc) {
    printf("blkbench: FAIL %s: rc=%ld\n", what, rc);
    return 1;
}

long parse(Options& o) {
    o.mode = cmdline::get_str("mode", "seqread");
    o.write = strcmp(o.mode, "seqwrite") == 0;
    o.random = strcmp(o.mode, "randread") == 0;
    if (!o.write && !o.random && strcmp(o.mode, "seqread") != 0) return -XEN_EINVAL;
    o.region = cmdline::get_u64("mib", 64) << 20;
    o.bs = static_cast<uint32_t>(cmdline::get_u64("bs", o.random ? 4096 : 1 << 20));
    o.qd = static_cast<unsigned>(cmdline::get_u64("qd", o.random ? 32 : 8));
    o.ns = cmdline::get_scaled("seconds", time::kNsPerSec, 5 * time::kNsPerSec);
    o.seed = cmdline::get_u64("seed", 1);
    if (o.bs == 0 || o.bs % kSectorSize || o.bs > (64u << 20) || o.qd == 0 || o.qd > kMaxQd)
        return -XEN_EINVAL;
    if (o.region < o.bs) return -XEN_EINVAL;
    return 0;
}

// The next request's byte offset in the region.
uint64_t next_offset(const Options& o, uint64_t& cursor, uint64_t& rng) {
    if (o.random) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (rng % (o.region / o.bs)) * o.bs;
    }
    uint64_t at = cursor;
    cursor = cursor + o.bs + o.bs > o.region ? 0 : cursor + o.bs;
    return at;
}

// The measured loop: qd requests in flight until the time is up, then drained.
long run(blkfront::Device& disk, const Options& o, blkfront::Io* ios, Result& res) {
    blkfront::CompletionQueue cq;
    uint64_t cursor = 0, rng = o.seed * 0x9e3779b97f4a7c15ull | 1;
    for (unsigned i = 0; i < o.qd; ++i) {
        ios[i].op = o.write ? blkfront::Op::write : blkfront::Op::read;
        ios[i].nsectors = o.bs / kSectorSize;
        ios[i].cq = &cq;
    }
    const uint64_t t0 = time::now_ns();
    const uint64_t end = t0 + o.ns;
    unsigned inflight = 0;
    long err = 0;
    blkfront::Io* first[kMaxQd];
    for (unsigned i = 0; i < o.qd; ++i) {
        ios[i].sector = next_offset(o, cursor, rng) / kSectorSize;
        first[i] = &ios[i];
    }
    inflight = static_cast<unsigned>(disk.submit(first, o.qd));
    if (inflight < o.qd) err = first[inflight]->result;
    blkfront::Io* again[kMaxQd];
    while (inflight) {
        // Every request that has completed by now goes back in one batch: one notify.
        unsigned n = 0;
        for (blkfront::Io* io = cq.wait(); io; io = cq.poll()) {
            --inflight;
            if (io->result < 0) {
                if (err == 0) err = io->result;
                continue;
            }
            ++res.ios;
            res.bytes += o.bs;
            if (err == 0) again[n++] = io;
        }
        if (n == 0 || time::now_ns() >= end) continue;
        for (unsigned i = 0; i < n; ++i)
            again[i]->sector = next_offset(o, cursor, rng) / kSectorSize;
        size_t queued = disk.submit(again, n);
        inflight += static_cast<unsigned>(queued);
        if (queued < n) err = again[queued]->result;
    }
    res.ns = time::now_ns() - t0;
    return err;
}

}  // namespace

int main() {
    Options o{};
    if (parse(o) < 0) {
        printf(
            "blkbench: FAIL usage: mode=seqread|seqwrite|randread mib= qd=(1..%u) bs=(512-aligned) "
            "seconds=\n",
            kMaxQd);
        return 2;
    }
    uint32_t devid = static_cast<uint32_t>(cmdline::get_u64("dev", 0));
    if (!cmdline::has("dev")) {
        long n = blkfront::list(&devid, 1);
        if (n <= 0) return fail("no vbd (device/vbd)", n < 0 ? n : -XEN_ENODEV);
    }
    blkfront::Device disk;
    // Persistent grants copy each request's data once more (pool <-> buffer); large requests
    // go faster granting the buffer's own pages.
    disk.set_persistent(cmdline::has("persistent") ? cmdline::get_u64("persistent", 1) != 0
                                                   : o.bs < kDirectGrantBs);
    if (long rc = disk.open(devid)) return fail("open", rc);
    const blkfront::Info& in = disk.info();
    printf("blkbench: %s sectors=%llu persistent=%d segments=%u ring-slots=%u\n", disk.name(),
           static_cast<unsigned long long>(in.sectors), in.persistent, in.segments_per_request,
           in.ring_slots);
    if (o.region / kSectorSize > in.sectors)
        return fail("mib= is larger than the disk", -XEN_EINVAL);

    static blkfront::Io ios[kMaxQd];
    for (unsigned i = 0; i < o.qd; ++i) {
        ios[i].buf = mem::alloc_pages((o.bs + mem::kPageSize - 1) / mem::kPageSize);
        if (!ios[i].buf) return fail("out of memory for qd * bs", -XEN_ENOMEM);
        memset(ios[i].buf, static_cast<int>(0xa5 ^ i), o.bs);
    }
    Result res;
    if (long rc = run(disk, o, ios, res)) return fail("I/O", rc);
    uint64_t ns = res.ns ? res.ns : 1;
    printf("blkbench: %s bytes=%llu ns=%llu iops=%llu mib_per_s=%llu qd=%u bs=%u\n", o.mode,
           static_cast<unsigned long long>(res.bytes), static_cast<unsigned long long>(res.ns),
           static_cast<unsigned long long>(res.ios * time::kNsPerSec / ns),
           static_cast<unsigned long long>((res.bytes >> 20) * time::kNsPerSec / ns), o.qd, o.bs);
    // How well requests and responses were batched: per ring request, notifies sent and
    // handler passes that found responses.
    blkfront::Device::Stats st = disk.stats();
    printf(
        "blkbench: ring requests=%llu responses=%llu notifies=%llu batches=%llu\n",
        static_cast<unsigned long long>(st.requests), static_cast<unsigned long long>(st.responses),
        static_cast<unsigned long long>(st.notifies), static_cast<unsigned long long>(st.batches));
    if (o.write) {
        uint64_t t = time::now_ns();
        long rc = disk.flush();
        if (rc < 0 && rc != -XEN_EOPNOTSUPP) return fail("flush", rc);
        printf("blkbench: flush ns=%llu rc=%ld\n",
               static_cast<unsigned long long>(time::now_ns() - t), rc);
    }
    if (long rc = disk.close()) return fail("close", rc);
    return 0;
}
