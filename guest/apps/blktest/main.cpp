// blktest: the block frontend against a real backend (docs/pumice.md, "Block devices").
//
//   mode=verify (default) [dev=<devid>] [seed=1] [start=0] [count=2048] [threads=4]
//                         [expect_ro=0|1]
//       opens dev (default: the first vbd) and prints its geometry. A writable disk gets
//       the pattern of seed+1 over [start, start+count), then the pattern of seed written
//       again by `threads` threads at once (a chunk each, from any vCPU) and, for the last
//       chunk, from a buffer that is not sector-aligned; a flush; then it is read back
//       whole and in small pieces and compared. A read-only disk must refuse a write (in
//       the frontend, and in the backend when the frontend lets it through) and keep its
//       data. Also: a read past the end fails, a discard of the first 8 sectors (if offered)
//       succeeds.
//   mode=journal [dev=] [seed=1] [start=0] [records=1000]
//       record n (1, 2, ...) goes to sector start+n-1 and is flushed; each acknowledged
//       flush prints `blktest: durable seq=<n> crc=<crc32 of the 512-byte record>`.
//   mode=list
//       every vbd: `blktest: vbd <devid> <name> sectors=N sector-size=512 ro=R`.
//   mode=wait-hotplug [count=1] [unplug=0] [seconds=60]
//       watches device/vbd; each vbd that appears and connects prints
//       `blktest: hotplug <devid> sectors=N`; with unplug=1 it then waits for each to be
//       taken away again (`blktest: unplug <devid>`).
// Prints `blktest: ok` and exits 0, or `blktest: FAIL <what>` and exits 1.
#include <pumice/blkfront.hpp>
#include <pumice/pumice.hpp>
#include <pumice/xenstore.hpp>

#include "common/blk_pattern.hpp"

using namespace pumice;
using xenolith_common::kBlkSector;

namespace {

uint64_t open_timeout_ns() {
    return cmdline::get_u64("timeout_ms", 10000) * time::kNsPerMs;
}

int fail(const char* what, long rc) {
    printf("blktest: FAIL %s: rc=%ld\n", what, rc);
    return 1;
}

// The vbd dev= names, else the first one.
long pick_devid(uint32_t* devid) {
    if (cmdline::has("dev")) {
        *devid = static_cast<uint32_t>(cmdline::get_u64("dev", 0));
        return 0;
    }
    uint32_t ids[1];
    long n = blkfront::list(ids, 1);
    if (n < 0) return n;
    if (n == 0) return -XEN_ENODEV;
    *devid = ids[0];
    return 0;
}

long open_disk(blkfront::Device& disk) {
    uint32_t devid = 0;
    long rc = pick_devid(&devid);
    if (rc < 0) {
        printf("blktest: no vbd to open (device/vbd: rc=%ld)\n", rc);
        return rc;
    }
    rc = disk.open(devid, open_timeout_ns());
    if (rc < 0) {
        printf("blktest: open device/vbd/%u failed: rc=%ld\n", devid, rc);
        return rc;
    }
    const blkfront::Info& in = disk.info();
    printf("blktest: %s sectors=%llu sector-size=%u ro=%d\n", disk.name(),
           static_cast<unsigned long long>(in.sectors), in.sector_size, in.readonly ? 1 : 0);
    printf(
        "blktest: features persistent=%d segments=%u flush=%d barrier=%d discard=%d ring-pages=%u "
        "slots=%u\n",
        in.persistent, in.segments_per_request, in.flush, in.barrier, in.discard, in.ring_pages,
        in.ring_slots);
    return 0;
}

void fill_range(uint8_t* buf, uint64_t start, uint64_t count, uint32_t seed) {
    for (uint64_t i = 0; i < count; ++i)
        xenolith_common::fill_sector(buf + i * kBlkSector, start + i, seed);
}

// Compares buf (sectors from `start`) with the pattern; prints the first difference.
bool verify_range(const uint8_t* buf, uint64_t start, uint64_t count, uint32_t seed,
                  const char* how) {
    uint8_t want[kBlkSector];
    for (uint64_t i = 0; i < count; ++i) {
        xenolith_common::fill_sector(want, start + i, seed);
        const uint8_t* got = buf + i * kBlkSector;
        for (size_t b = 0; b < kBlkSector; ++b) {
            if (got[b] == want[b]) continue;
            printf("blktest: FAIL mismatch (%s) at sector %llu byte %zu: got 0x%02x want 0x%02x\n",
                   how, static_cast<unsigned long long>(start + i), b, got[b], want[b]);
            return false;
        }
    }
    return true;
}

// ---- mode=verify, writable disk -------------------------------------------------------

struct Chunk {
    blkfront::Device* disk;
    uint64_t sector;
    uint64_t count;
    uint8_t* data;  // the chunk's expected bytes
    bool read;      // read back and compare instead of writing
    uint32_t seed;
    long rc;
};

void run_chunk(void* arg) {
    auto* c = static_cast<Chunk*>(arg);
    if (!c->read) {
        c->rc = c->disk->write(c->sector, c->data, c->count);
        return;
    }
    // Reads in 4 KiB pieces, so that many small requests share the ring at once.
    uint8_t* piece = static_cast<uint8_t*>(malloc(8 * kBlkSector));
    c->rc = piece ? 0 : -XEN_ENOMEM;
    for (uint64_t s = 0; c->rc == 0 && s < c->count; s += 8) {
        uint64_t n = c->count - s < 8 ? c->count - s : 8;
        c->rc = c->disk->read(c->sector + s, piece, n);
        if (c->rc == 0 && !verify_range(piece, c->sector + s, n, c->seed, "threaded read"))
            c->rc = -XEN_EIO;
    }
    free(piece);
}

// Runs `threads` chunks of [start, start+count) at once, one thread each, spread over the
// vCPUs; the last chunk's data comes from `odd` (not sector-aligned) when writing.
long run_threads(blkfront::Device& disk, uint64_t start, uint64_t count, uint8_t* data,
                 uint8_t* odd, unsigned threads, bool read, uint32_t seed) {
    constexpr unsigned kMaxThreads = 16;
    if (threads == 0) threads = 1;
    if (threads > kMaxThreads) threads = kMaxThreads;
    Chunk chunks[kMaxThreads];
    Thread* ts[kMaxThreads];
    uint64_t per = count / threads;
    unsigned cpus = smp::online();
    for (unsigned i = 0; i < threads; ++i) {
        uint64_t first = i * per;
        uint64_t n = i + 1 == threads ? count - first : per;
        uint8_t* src = data + first * kBlkSector;
        if (odd && i + 1 == threads) {
            memcpy(odd, src, n * kBlkSector);
            src = odd;
        }
        chunks[i] = Chunk{&disk, start + first, n, src, read, seed, 0};
        ts[i] =
            n ? thread_create("blktest-io", run_chunk, &chunks[i], i % (cpus ? cpus : 1)) : nullptr;
        if (n && !ts[i]) return -XEN_ENOMEM;
    }
    long rc = 0;
    for (unsigned i = 0; i < threads; ++i) {
        if (!ts[i]) continue;
        thread_join(ts[i]);
        if (chunks[i].rc < 0 && rc == 0) rc = chunks[i].rc;
    }
    return rc;
}

int verify_writable(blkfront::Device& disk, uint64_t start, uint64_t count, uint32_t seed) {
    const size_t bytes = count * kBlkSector;
    auto* data = static_cast<uint8_t*>(malloc(bytes));
    auto* back = static_cast<uint8_t*>(malloc(bytes));
    auto* odd_base = static_cast<uint8_t*>(malloc(bytes + 8));
    if (!data || !back || !odd_base) return fail("out of memory for the buffers", -XEN_ENOMEM);
    uint8_t* odd = odd_base + 3;  // not sector-aligned: the frontend must bounce it

    fill_range(data, start, count, seed + 1);
    if (long rc = disk.write(start, data, count)) return fail("write (old pattern)", rc);
    fill_range(data, start, count, seed);
    unsigned threads = static_cast<unsigned>(cmdline::get_u64("threads", 4));
    if (long rc = run_threads(disk, start, count, data, odd, threads, false, seed))
        return fail("threaded write", rc);
    long rc = disk.flush();
    printf("blktest: flush rc=%ld\n", rc);
    if (rc < 0 && rc != -XEN_EOPNOTSUPP) return fail("flush", rc);

    memset(back, 0, bytes);
    if ((rc = disk.read(start, back, count))) return fail("read back", rc);
    if (!verify_range(back, start, count, seed, "one read")) return 1;
    memset(odd, 0, bytes);
    if ((rc = disk.read(start, odd, count))) return fail("unaligned read back", rc);
    if (!verify_range(odd, start, count, seed, "unaligned read")) return 1;
    if ((rc = run_threads(disk, start, count, data, nullptr, threads, true, seed)))
        return fail("threaded read", rc);
    printf("blktest: wrote and verified sectors %llu..%llu seed=%u\n",
           static_cast<unsigned long long>(start),
           static_cast<unsigned long long>(start + count - 1), seed);

    // Discards the first 8 sectors only: the host checks that they read as zeros while
    // the rest of the pattern stays.
    if (disk.info().discard) {
        uint64_t n = count < 8 ? count : 8;
        rc = disk.discard(start, n);
        printf("blktest: discard sectors %llu..%llu rc=%ld\n",
               static_cast<unsigned long long>(start),
               static_cast<unsigned long long>(start + n - 1), rc);
        if (rc < 0 && rc != -XEN_EOPNOTSUPP) return fail("discard", rc);
    }
    free(data);
    free(back);
    free(odd_base);
    return 0;
}

// ---- mode=verify, read-only disk ------------------------------------------------------

int verify_readonly(blkfront::Device& disk, uint64_t start, uint64_t count) {
    const size_t bytes = count * kBlkSector;
    auto* before = static_cast<uint8_t*>(malloc(bytes));
    auto* junk = static_cast<uint8_t*>(malloc(bytes));
    auto* after = static_cast<uint8_t*>(malloc(bytes));
    if (!before || !junk || !after) return fail("out of memory for the buffers", -XEN_ENOMEM);
    if (long rc = disk.read(start, before, count)) return fail("read", rc);
    memset(junk, 0x5a, bytes);
    long rc = disk.write(start, junk, count);
    printf("blktest: read-only write rc=%ld (frontend)\n", rc);
    if (rc != -XEN_EROFS)
        return fail("a write to a read-only disk was not refused by the frontend", rc);
    disk.set_readonly_check(false);
    rc = disk.write(start, junk, count);
    disk.set_readonly_check(true);
    printf("blktest: read-only write rc=%ld (backend)\n", rc);
    if (rc >= 0) return fail("the backend accepted a write to a read-only disk", rc);
    if ((rc = disk.read(start, after, count))) return fail("read after the refused write", rc);
    if (memcmp(before, after, bytes) != 0) return fail("a read-only disk changed", -XEN_EIO);
    printf("blktest: read-only data unchanged\n");
    free(before);
    free(junk);
    free(after);
    return 0;
}

int mode_verify() {
    blkfront::Device disk;
    if (open_disk(disk) < 0) return 1;
    const blkfront::Info& in = disk.info();
    if (cmdline::has("expect_ro") && (cmdline::get_u64("expect_ro", 0) != 0) != in.readonly) {
        printf("blktest: FAIL expected ro=%d, the disk says ro=%d\n", in.readonly ? 0 : 1,
               in.readonly ? 1 : 0);
        return 1;
    }
    uint64_t start = cmdline::get_u64("start", 0);
    uint64_t count = cmdline::get_u64("count", 2048);
    if (count > in.sectors) count = in.sectors;
    if (count == 0 || start > in.sectors - count) {
        printf("blktest: FAIL start=%llu count=%llu do not fit in %llu sectors\n",
               static_cast<unsigned long long>(start), static_cast<unsigned long long>(count),
               static_cast<unsigned long long>(in.sectors));
        return 1;
    }
    uint32_t seed = static_cast<uint32_t>(cmdline::get_u64("seed", 1));
    int bad = in.readonly ? verify_readonly(disk, start, count)
                          : verify_writable(disk, start, count, seed);
    if (bad) return bad;

    uint8_t sector[kBlkSector];
    long rc = disk.read(in.sectors, sector, 1);
    printf("blktest: out-of-range read rc=%ld\n", rc);
    if (rc != -XEN_EINVAL) return fail("a read past the end was not refused", rc);
    blkfront::Device::Stats st = disk.stats();
    printf("blktest: requests=%llu responses=%llu notifies=%llu bad=%llu\n",
           static_cast<unsigned long long>(st.requests),
           static_cast<unsigned long long>(st.responses),
           static_cast<unsigned long long>(st.notifies),
           static_cast<unsigned long long>(st.bad_responses));
    rc = disk.close();
    printf("blktest: close rc=%ld\n", rc);
    if (rc < 0) return fail("close", rc);
    printf("blktest: ok\n");
    return 0;
}

// ---- mode=journal ---------------------------------------------------------------------

int mode_journal() {
    blkfront::Device disk;
    if (open_disk(disk) < 0) return 1;
    const uint64_t start = cmdline::get_u64("start", 0);
    const uint64_t records = cmdline::get_u64("records", 1000);
    const auto seed = static_cast<uint32_t>(cmdline::get_u64("seed", 1));
    if (disk.info().readonly) return fail("journal needs a writable disk", -XEN_EROFS);
    if (records == 0 || start > disk.info().sectors || records > disk.info().sectors - start)
        return fail("start+records do not fit on the disk", -XEN_EINVAL);
    printf("blktest: journal start=%llu records=%llu seed=%u\n",
           static_cast<unsigned long long>(start), static_cast<unsigned long long>(records), seed);
    uint8_t rec[kBlkSector];
    for (uint64_t seq = 1; seq <= records; ++seq) {
        xenolith_common::journal_record(rec, seq, seed);
        if (long rc = disk.write(start + seq - 1, rec, 1)) return fail("journal write", rc);
        if (long rc = disk.flush()) return fail("journal flush", rc);
        printf("blktest: durable seq=%llu crc=%08x\n", static_cast<unsigned long long>(seq),
               xenolith_common::crc32(rec, kBlkSector));
    }
    long rc = disk.close();
    if (rc < 0) return fail("close", rc);
    printf("blktest: journal done records=%llu\n", static_cast<unsigned long long>(records));
    printf("blktest: ok\n");
    return 0;
}

// ---- mode=list ------------------------------------------------------------------------

int mode_list() {
    constexpr size_t kMax = 32;
    uint32_t ids[kMax];
    long n = blkfront::list(ids, kMax);
    if (n < 0 && n != -XEN_ENOENT) return fail("list device/vbd", n);
    if (n < 0) n = 0;
    int bad = 0;
    for (long i = 0; i < n; ++i) {
        blkfront::Device disk;
        long rc = disk.open(ids[i], open_timeout_ns());
        if (rc < 0) {
            printf("blktest: vbd %u open failed: rc=%ld\n", ids[i], rc);
            bad = 1;
            continue;
        }
        printf("blktest: vbd %u %s sectors=%llu sector-size=%u ro=%d\n", ids[i], disk.name(),
               static_cast<unsigned long long>(disk.info().sectors), disk.info().sector_size,
               disk.info().readonly ? 1 : 0);
        if ((rc = disk.close()) < 0) {
            printf("blktest: vbd %u close failed: rc=%ld\n", ids[i], rc);
            bad = 1;
        }
    }
    printf("blktest: vbds=%ld\n", n);
    if (!bad) printf("blktest: ok\n");
    return bad;
}

// ---- mode=wait-hotplug ----------------------------------------------------------------

struct Hotplug {
    WaitQueue wq;
    uint64_t changes = 0;
};

void on_vbd_change(const char*, void* arg) {
    auto* h = static_cast<Hotplug*>(arg);
    h->wq.notify_all([h] { ++h->changes; });
}

constexpr size_t kMaxDisks = 16;
blkfront::Device g_disks[kMaxDisks];
bool g_in_use[kMaxDisks];
uint32_t g_seen[kMaxDisks * 2];
size_t g_nseen;

bool seen(uint32_t devid) {
    for (size_t i = 0; i < g_nseen; ++i)
        if (g_seen[i] == devid) return true;
    return false;
}

// A vbd that appeared: connect, say so, read its first sector. -XEN_ENODEV: its directory
// is still being written (no backend or state node yet); the caller looks again on the
// next change, as Linux's xenbus probe does. Other results are final.
long plug(uint32_t devid, unsigned* plugged) {
    size_t slot = 0;
    while (slot < kMaxDisks && g_in_use[slot]) ++slot;
    if (slot == kMaxDisks) {
        printf("blktest: hotplug %u: too many disks\n", devid);
        return -XEN_ENOSPC;
    }
    blkfront::Device* disk = &g_disks[slot];
    long rc = disk->open(devid, open_timeout_ns());
    if (rc == -XEN_ENODEV) {
        printf("blktest: hotplug %u not complete yet\n", devid);
        return rc;
    }
    if (rc < 0) {
        printf("blktest: hotplug %u open failed: rc=%ld\n", devid, rc);
        return rc;
    }
    g_in_use[slot] = true;
    printf("blktest: hotplug %u sectors=%llu\n", devid,
           static_cast<unsigned long long>(disk->info().sectors));
    uint8_t sector[kBlkSector];
    printf("blktest: hotplug %u read rc=%ld\n", devid, disk->read(0, sector, 1));
    ++*plugged;
    return 0;
}

int mode_wait_hotplug() {
    const uint64_t want = cmdline::get_u64("count", 1);
    const bool unplug = cmdline::get_u64("unplug", 0) != 0;
    const uint64_t deadline =
        time::now_ns() + cmdline::get_scaled("seconds", time::kNsPerSec, 60 * time::kNsPerSec);
    static Hotplug h;
    long id = xenstore::watch("device/vbd", on_vbd_change, &h);
    if (id < 0) return fail("watch device/vbd", id);
    uint32_t ids[kMaxDisks];
    long n = blkfront::list(ids, kMaxDisks);
    for (long i = 0; i < n; ++i) {
        g_seen[g_nseen++] = ids[i];
        printf("blktest: present %u\n", ids[i]);
    }
    printf("blktest: waiting for %llu hotplug(s)\n", static_cast<unsigned long long>(want));
    unsigned plugged = 0, unplugged = 0;
    while (plugged < want || (unplug && unplugged < plugged)) {
        uint64_t before = __atomic_load_n(&h.changes, __ATOMIC_ACQUIRE);
        n = blkfront::list(ids, kMaxDisks);
        for (long i = 0; i < n && plugged < want; ++i) {
            if (seen(ids[i]) || g_nseen == sizeof(g_seen) / sizeof(g_seen[0])) continue;
            if (plug(ids[i], &plugged) != -XEN_ENODEV) g_seen[g_nseen++] = ids[i];
        }
        for (size_t i = 0; i < kMaxDisks; ++i) {
            if (!g_in_use[i] || g_disks[i].connected()) continue;
            printf("blktest: unplug %u\n", g_disks[i].devid());
            g_disks[i].close();
            g_in_use[i] = false;
            ++unplugged;
        }
        if (plugged >= want && (!unplug || unplugged >= plugged)) break;
        // Device nodes change a lot while a disk connects: look again at least every 100 ms.
        while (__atomic_load_n(&h.changes, __ATOMIC_ACQUIRE) == before && time::now_ns() < deadline)
            sleep_ns(100 * time::kNsPerMs);
        if (time::now_ns() >= deadline) {
            printf("blktest: FAIL timeout: %u plugged, %u unplugged\n", plugged, unplugged);
            return 1;
        }
    }
    xenstore::unwatch(id);
    printf("blktest: ok\n");
    return 0;
}

}  // namespace

int main() {
    const char* mode = cmdline::get_str("mode", "verify");
    if (!xenstore::available()) {
        printf("blktest: FAIL no xenstore\n");
        return 1;
    }
    if (smp::count() > 1) smp::start_all();
    if (strcmp(mode, "verify") == 0) return mode_verify();
    if (strcmp(mode, "journal") == 0) return mode_journal();
    if (strcmp(mode, "list") == 0) return mode_list();
    if (strcmp(mode, "wait-hotplug") == 0) return mode_wait_hotplug();
    printf("blktest: FAIL unknown mode '%s' (verify, journal, list, wait-hotplug)\n", mode);
    return 2;
}
