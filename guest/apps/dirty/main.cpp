// dirty: writes guest memory at a set rate and checks that no write was lost, for live
// migration tests and benchmarks (a page sent stale and never sent again shows up).
//   mib=<M> (16)          working buffer, in MiB of guest RAM
//   rate=<R> (10000)      pages written per second; 0: as fast as it can
//   report_ms=<T> (500)   progress line period
//   verify_ms=<V> (1000)  full verify pass period
//   seconds=<S> (0)       run time, then exit; 0: until shut down
// Every write has its own sequence number `seq` (from 1, so a zeroed page never passes). It
// goes to a page chosen by a mix of seq, into the page's first, middle and last word, and
// into expect[page], a table in RAM too: a lost write to either shows as a mismatch. At
// start every page is written once, in order. A verify pass checks every page's three words
// against expect. Prints (ms: since the buffer was allocated; rate: since the last report)
//   dirty: buffer=0x<gpa> table=0x<gpa>
//   dirty: ready pages=<P>                                  (every page written once)
//   dirty: seq=<n> pages=<P> rate=<pages/s> verified=<passes> ms=<ms>
//   dirty: MISMATCH page=<i> first=<n> last=<n> expect=<n> mid=<n>   (the first one only)
//   dirty: done seq=<n> verified=<passes> mismatches=<n> ms=<ms>  (seconds= runs only)
// After a mismatch it keeps writing, so that the load a benchmark sees stays the same, and
// keeps verifying; `mismatches` counts every failed page check, and the exit status is 1.
#include <pumice/pumice.hpp>

using namespace pumice;

namespace {

constexpr uint64_t kWords = mem::kPageSize / sizeof(uint64_t);
// At most this much pacing credit is kept: after a pause (the domain stopped, a verify pass)
// the writes catch up in one burst no longer than this, not for the whole pause.
constexpr uint64_t kMaxCreditNs = 100 * time::kNsPerMs;
// Pacing sleeps at least this long, so that a high rate is not a timer interrupt per page.
constexpr uint64_t kMinSleepNs = time::kNsPerMs;
// Writes between looks at the clock when unpaced.
constexpr uint64_t kUnpacedBatch = 1024;

struct Options {
    uint64_t pages;
    uint64_t rate;
    uint64_t report_ns;
    uint64_t verify_ns;
    uint64_t run_ns;
};

bool parse(Options* o) {
    uint64_t mib = cmdline::get_u64("mib", 16);
    if (mib == 0 || mib > (1u << 20)) {
        printf("dirty: bad mib=%s\n", cmdline::get_str("mib", ""));
        return false;
    }
    o->pages = mib * (1024 * 1024 / mem::kPageSize);
    // Beyond a page per nanosecond is unreachable anyway; the cap keeps the pacing
    // arithmetic within 64 bits.
    o->rate = cmdline::get_u64("rate", 10000);
    if (o->rate > time::kNsPerSec) o->rate = time::kNsPerSec;
    o->report_ns = cmdline::get_u64("report_ms", 500) * time::kNsPerMs;
    if (!o->report_ns) o->report_ns = time::kNsPerMs;
    o->verify_ns = cmdline::get_u64("verify_ms", 1000) * time::kNsPerMs;
    if (!o->verify_ns) o->verify_ns = time::kNsPerMs;
    o->run_ns = cmdline::get_scaled("seconds", time::kNsPerSec, 0);
    return true;
}

// The page write `seq` goes to: splitmix64's finaliser scatters consecutive seqs over the
// whole buffer, so every page is written again and again, in no order a migration could
// follow by accident.
uint64_t page_of(uint64_t seq, uint64_t pages) {
    uint64_t z = seq * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (z ^ (z >> 31)) % pages;
}

// The buffer and its table of expected sequence numbers, both in guest RAM. Accesses are
// volatile: every write must reach RAM and every check must read it back.
class Memory {
  public:
    bool allocate(uint64_t pages) {
        pages_ = pages;
        table_pages_ = (pages * sizeof(uint64_t) + mem::kPageSize - 1) / mem::kPageSize;
        buffer_ = static_cast<uint64_t*>(mem::alloc_pages(pages));
        expect_ = static_cast<uint64_t*>(mem::alloc_pages(table_pages_));
        return buffer_ && expect_;
    }
    uint64_t pages() const { return pages_; }
    uint64_t table_pages() const { return table_pages_; }
    uintptr_t buffer_address() const { return reinterpret_cast<uintptr_t>(buffer_); }
    uintptr_t table_address() const { return reinterpret_cast<uintptr_t>(expect_); }

    void write(uint64_t page, uint64_t seq) {
        volatile uint64_t* w = buffer_ + page * kWords;
        w[0] = seq;
        w[kWords / 2] = seq;
        w[kWords - 1] = seq;
        expect_[page] = seq;
    }

    struct Check {
        uint64_t first, mid, last, expect;
        bool ok() const { return first == expect && mid == expect && last == expect; }
    };
    Check check(uint64_t page) const {
        const volatile uint64_t* w = buffer_ + page * kWords;
        return {w[0], w[kWords / 2], w[kWords - 1], expect_[page]};
    }

  private:
    uint64_t pages_ = 0;
    uint64_t table_pages_ = 0;
    uint64_t* buffer_ = nullptr;
    volatile uint64_t* expect_ = nullptr;
};

// Paces writes to `rate` pages per second: credit accrues with time (in page-nanoseconds,
// so no fraction of a page is lost) and each write spends a page of it.
class Pacer {
  public:
    // At least a page of credit can be held, or a rate under 10 pages/s would never write.
    Pacer(uint64_t rate, uint64_t now)
        : rate_(rate),
          last_(now),
          limit_(kMaxCreditNs * rate > time::kNsPerSec ? kMaxCreditNs * rate : time::kNsPerSec) {}

    // Writes allowed at `now`.
    uint64_t due(uint64_t now) {
        // Time beyond what fills the credit adds nothing; cutting it keeps the product in
        // 64 bits however long the domain was paused.
        uint64_t elapsed = now - last_;
        if (elapsed > limit_ / rate_ + 1) elapsed = limit_ / rate_ + 1;
        last_ = now;
        credit_ += elapsed * rate_;
        if (credit_ > limit_) credit_ = limit_;
        uint64_t pages = credit_ / time::kNsPerSec;
        credit_ -= pages * time::kNsPerSec;
        return pages;
    }
    // When the next write will be allowed, at the earliest kMinSleepNs after `now`.
    uint64_t next_ns(uint64_t now) const {
        uint64_t wait = (time::kNsPerSec - credit_ + rate_ - 1) / rate_;
        return now + (wait > kMinSleepNs ? wait : kMinSleepNs);
    }

  private:
    uint64_t rate_;
    uint64_t last_;
    uint64_t limit_;
    uint64_t credit_ = 0;
};

class Dirtier {
  public:
    Dirtier(const Options& o, Memory& m, uint64_t start) : o_(o), m_(m), start_(start) {}

    // Writes every page once, in order, so that each holds a valid header.
    void touch_all() {
        for (uint64_t page = 0; page < m_.pages(); ++page) m_.write(page, ++seq_);
        // Reports and passes count from here: the first touch of RAM can take seconds
        // (every page faulted in), and its rate is not the one asked for.
        uint64_t now = time::now_ns();
        next_report_ = now + o_.report_ns;
        next_verify_ = now + o_.verify_ns;
        last_report_ = now;
        last_report_seq_ = seq_;
    }

    // Writes `n` pages, each to a page of its own seq's choosing.
    void write(uint64_t n) {
        for (uint64_t i = 0; i < n; ++i) {
            ++seq_;
            m_.write(page_of(seq_, m_.pages()), seq_);
        }
    }

    // Reports and verifies when their time has come; the deadline of the next of the two.
    uint64_t tick(uint64_t now) {
        if (now >= next_verify_) {
            verify();
            next_verify_ = next_after(next_verify_, o_.verify_ns, now);
        }
        if (now >= next_report_) {
            report(now);
            next_report_ = next_after(next_report_, o_.report_ns, now);
        }
        return next_verify_ < next_report_ ? next_verify_ : next_report_;
    }

    // The last line, for runs with an end.
    int finish(uint64_t now) {
        printf("dirty: done seq=%llu verified=%llu mismatches=%llu ms=%llu\n", ull(seq_),
               ull(verified_), ull(mismatches_), ull((now - start_) / time::kNsPerMs));
        return mismatches_ ? 1 : 0;
    }

  private:
    static unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }
    // The deadline after `next`. One missed by a whole period (the domain was paused)
    // restarts from now rather than firing once per missed period.
    static uint64_t next_after(uint64_t next, uint64_t period, uint64_t now) {
        next += period;
        return next > now ? next : now + period;
    }

    void verify() {
        for (uint64_t page = 0; page < m_.pages(); ++page) {
            Memory::Check c = m_.check(page);
            if (c.ok()) continue;
            if (!mismatches_)
                printf("dirty: MISMATCH page=%llu first=%llu last=%llu expect=%llu mid=%llu\n",
                       ull(page), ull(c.first), ull(c.last), ull(c.expect), ull(c.mid));
            ++mismatches_;
        }
        ++verified_;
    }

    void report(uint64_t now) {
        uint64_t ns = now - last_report_;
        uint64_t rate = ns ? (seq_ - last_report_seq_) * time::kNsPerSec / ns : 0;
        printf("dirty: seq=%llu pages=%llu rate=%llu verified=%llu ms=%llu\n", ull(seq_),
               ull(m_.pages()), ull(rate), ull(verified_), ull((now - start_) / time::kNsPerMs));
        last_report_ = now;
        last_report_seq_ = seq_;
    }

    const Options& o_;
    Memory& m_;
    uint64_t start_;
    uint64_t next_report_ = 0;
    uint64_t next_verify_ = 0;
    uint64_t last_report_ = 0;
    uint64_t last_report_seq_ = 0;
    uint64_t seq_ = 0;
    uint64_t verified_ = 0;
    uint64_t mismatches_ = 0;
};

// Until `end` (0: never): paced writes, sleeping between them so that Pumice's store thread
// runs (a shutdown request is seen) and the host CPU is left idle for what is not needed.
int run(const Options& o, Dirtier& d, uint64_t start) {
    uint64_t end = o.run_ns ? start + o.run_ns : 0;
    Pacer pacer(o.rate, start);
    for (;;) {
        uint64_t now = time::now_ns();
        if (end && now >= end) return d.finish(now);
        uint64_t deadline = d.tick(now);
        uint64_t n = o.rate ? pacer.due(now) : kUnpacedBatch;
        if (n) {
            d.write(n);
            yield();  // a rate beyond what this vCPU can write must not starve the others
            continue;
        }
        uint64_t wake = pacer.next_ns(now);
        if (deadline < wake) wake = deadline;
        if (end && end < wake) wake = end;
        sleep_until(wake);
    }
}

}  // namespace

int main() {
    Options o;
    if (!parse(&o)) return 1;
    Memory m;
    if (!m.allocate(o.pages)) {
        printf("dirty: cannot allocate %llu + %llu pages (%llu free)\n",
               static_cast<unsigned long long>(o.pages),
               static_cast<unsigned long long>(m.table_pages()),
               static_cast<unsigned long long>(mem::free_page_count()));
        return 1;
    }
    printf("dirty: buffer=0x%llx table=0x%llx\n",
           static_cast<unsigned long long>(m.buffer_address()),
           static_cast<unsigned long long>(m.table_address()));
    uint64_t start = time::now_ns();
    Dirtier d(o, m, start);
    d.touch_all();
    printf("dirty: ready pages=%llu\n", static_cast<unsigned long long>(o.pages));
    return run(o, d, time::now_ns());
}
