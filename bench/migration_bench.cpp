#include "bench/migration_bench.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <exception>
#include <memory>
#include <optional>
#include <regex>
#include <thread>
#include <vector>

#include "backends/console/console_backend.hpp"
#include "base/error.hpp"
#include "base/tcp_socket.hpp"
#include "base/unique_fd.hpp"
#include "bench/guests.hpp"
#include "state/domain_save.hpp"
#include "state/flow_control.hpp"
#include "state/precopy.hpp"
#include "toolstack/launch/pv_guest.hpp"

namespace xenolith::bench {

namespace {

using namespace std::chrono_literals;

constexpr uint64_t kMiB = 1 << 20;
constexpr size_t kChunk = 1 << 20;
constexpr auto kConnectTimeout = 10s;
// A receiver waits this long for the sender's next bytes before it gives up: a sender
// that failed must not hang the benchmark.
constexpr int kReadTimeoutS = 30;
// Touching 256 MiB page by page takes seconds on KVM (every page faulted in).
constexpr uint64_t kReadyTimeoutMs = 120'000;
// How much longer than copy_run_ms a copy may take to finish its verify passes.
constexpr uint64_t kCheckSlackMs = 5000;
// The guest reports and checks often enough for a copy's half second to hold whole passes.
constexpr uint64_t kReportMs = 100;
constexpr uint64_t kVerifyMs = 200;

double ms_between(uint64_t from_ns, uint64_t to_ns) {
    return static_cast<double>(to_ns - from_ns) / 1e6;
}

// FdSink writes with write(2): a receiver that went away must fail the figure with EPIPE,
// not end the benchmark with SIGPIPE. The disposition is restored after, so that the
// processes other sections start do not inherit it.
class SigpipeIgnored {
  public:
    SigpipeIgnored() { old_ = std::signal(SIGPIPE, SIG_IGN); }
    ~SigpipeIgnored() { std::signal(SIGPIPE, old_); }
    SigpipeIgnored(const SigpipeIgnored&) = delete;
    SigpipeIgnored& operator=(const SigpipeIgnored&) = delete;

  private:
    void (*old_)(int) = SIG_DFL;
};

// Every number after `key` in `text`, in order.
std::vector<uint64_t> numbers_after(const std::string& text, const std::string& key) {
    std::vector<uint64_t> out;
    const std::regex re(key + R"((\d+))");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
         ++it)
        out.push_back(std::stoull((*it)[1]));
    return out;
}

// The line holding the guest's first MISMATCH, or empty.
std::string mismatch_in(const std::string& console) {
    const size_t at = console.find("MISMATCH");
    if (at == std::string::npos) return "";
    const size_t begin = console.rfind('\n', at);
    const size_t end = console.find('\n', at);
    return console.substr(begin == std::string::npos ? 0 : begin + 1,
                          end == std::string::npos ? std::string::npos : end - begin - 1);
}

UniqueFd accept_within(int listener, std::chrono::milliseconds timeout) {
    pollfd p{listener, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n < 0) throw SystemError("poll", errno);
    if (n == 0) throw Error("no connection came within " + std::to_string(timeout.count()) + " ms");
    UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) throw SystemError("accept", errno);
    timeval tv{kReadTimeoutS, 0};
    check_syscall(::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv),
                  "setsockopt SO_RCVTIMEO");
    return fd;
}

void send_all(int fd, std::span<const uint8_t> bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), std::min(bytes.size(), kChunk), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw SystemError("send", errno);
        bytes = bytes.subspan(static_cast<size_t>(n));
    }
}

void receive_all(int fd, std::span<uint8_t> out) {
    while (!out.empty()) {
        const ssize_t n = ::recv(fd, out.data(), std::min(out.size(), kChunk), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SystemError("recv", errno);
        if (n == 0) throw Error("recv: the sender closed the connection early");
        out = out.subspan(static_cast<size_t>(n));
    }
}

// ---- the source ------------------------------------------------------------------------

// A `dirty` guest writing its buffer at the set rate, every page of it touched once.
class DirtyGuest {
  public:
    DirtyGuest(hv::Hypervisor& hv, const boot::ElfImage& dirty, const MigrationBenchOptions& o,
               platform::Accel accel)
        : domain_(hv.create_domain(params("migration-source", o.memory_mib, accel))),
          reaper_{hv, domain_->id()},
          guest_(launch::setup_pv_guest(hv, *domain_, dirty, cmdline(o), console_.sink())) {
        domain_->start();
    }
    hv::Domain& domain() { return *domain_; }
    state::ConsoleInfo console_info() const {
        return {guest_.layout.console_ring, guest_.layout.console_port};
    }
    std::string console() { return console_.get(); }

    void wait_until_ready() {
        wait_for([&] { return console_.get().find("dirty: ready") != std::string::npos; },
                 kReadyTimeoutMs, "printed no `dirty: ready`");
    }
    // Until the guest has printed `n` more progress lines: it runs, at its rate.
    void wait_for_reports(size_t n) {
        const size_t seen = numbers_after(console_.get(), "rate=").size();
        wait_for([&] { return numbers_after(console_.get(), "rate=").size() >= seen + n; },
                 10 * kReportMs * (n + 1), "printed no progress line");
    }
    // The rate the guest last reported, in pages/s.
    uint64_t last_rate() {
        const std::vector<uint64_t> rates = numbers_after(console_.get(), "rate=");
        return rates.empty() ? 0 : rates.back();
    }

    // As the daemon's FrozenDomain does for a domain with only a console: paused, and what
    // it wrote shown here once, not again by its copy.
    void freeze() {
        domain_->pause();
        guest_.console->drain();
    }
    void thaw() { domain_->unpause(); }

  private:
    static std::string cmdline(const MigrationBenchOptions& o) {
        return "mib=" + std::to_string(o.buffer_mib) + " rate=" + std::to_string(o.rate) +
               " report_ms=" + std::to_string(kReportMs) +
               " verify_ms=" + std::to_string(kVerifyMs);
    }
    template <class Done>
    void wait_for(Done done, uint64_t timeout_ms, const char* failure) {
        for (uint64_t deadline = now_ns() + timeout_ms * 1'000'000; !done();) {
            if (domain_->stopping())
                throw Error("the dirty guest stopped: " +
                            stop_description(*domain_, domain_->wait_for_stop()) +
                            "; console: " + console_.get());
            if (now_ns() > deadline)
                throw Error("the dirty guest " + std::string(failure) + " in " +
                            std::to_string(timeout_ms) + " ms; console: " + console_.get());
            ::usleep(1000);
        }
    }

    // Declared in this order so that the console backend goes first, the domain last.
    std::shared_ptr<hv::Domain> domain_;
    DomainReaper reaper_;
    Console console_;
    launch::PvGuest guest_;
};

// Unpauses the source when it goes, once its copy is gone: two copies never run at once.
struct Thaw {
    DirtyGuest& guest;
    ~Thaw() { guest.thaw(); }
};

// ---- the receiving side ------------------------------------------------------------------

// A thread that takes one connection, restores the stream it carries into a new domain,
// connects that domain's console and starts it, as the daemon does on GO. The copy is
// destroyed when this goes.
class Receiver {
  public:
    Receiver(hv::Hypervisor& hv, hv::DomainParams params)
        : hv_(hv),
          listener_(listen_tcp({"127.0.0.1", 0}, 1, port_)),
          thread_([this, params] { receive(params); }) {}
    ~Receiver() {
        if (thread_.joinable()) thread_.join();
        backend_.reset();  // drains the copy's last output first
        if (domain_) hv_.destroy_domain(domain_->id());
    }
    Receiver(const Receiver&) = delete;
    Receiver& operator=(const Receiver&) = delete;

    uint16_t port() const { return port_; }
    // Once the copy is started: throws what the thread threw.
    void wait() {
        if (thread_.joinable()) thread_.join();
        if (error_) std::rethrow_exception(error_);
    }
    uint64_t started_ns() const { return started_ns_; }
    hv::Domain& domain() { return *domain_; }
    std::string console() { return console_.get(); }
    const state::PageCounts& pages() const { return pages_; }

  private:
    void receive(const hv::DomainParams& params) {
        try {
            UniqueFd fd = accept_within(listener_.get(), kConnectTimeout);
            state::ReportingSource source(fd.get());
            state::RestoredDomain r = state::DomainRestore(source).restore(hv_, params);
            domain_ = r.domain;
            pages_ = r.pages;
            domain_->set_console(console_.sink());
            backend_ = std::make_unique<backends::ConsoleBackend>(domain_, r.console.port,
                                                                  console_.sink());
            domain_->start_restored();
            started_ns_ = now_ns();
        } catch (...) {
            error_ = std::current_exception();
        }
    }

    hv::Hypervisor& hv_;
    uint16_t port_ = 0;
    UniqueFd listener_;
    Console console_;
    std::shared_ptr<hv::Domain> domain_;
    std::unique_ptr<backends::ConsoleBackend> backend_;
    state::PageCounts pages_;
    uint64_t started_ns_ = 0;
    std::exception_ptr error_;
    std::jthread thread_;  // last: it uses everything above
};

// The copy runs `run_ms`, and on until it has printed two more verify passes than in its
// first progress line (so that at least one whole pass ran on the copy); then its console
// must hold no MISMATCH. Throws Error otherwise.
void check_copy(Receiver& copy, uint64_t run_ms) {
    const uint64_t start = now_ns();
    const uint64_t deadline = start + (run_ms + kCheckSlackMs) * 1'000'000;
    for (;;) {
        const std::string text = copy.console();
        if (std::string bad = mismatch_in(text); !bad.empty())
            throw Error("the copy lost a write: " + bad);
        if (copy.domain().stopping())
            throw Error("the copy stopped: " +
                        stop_description(copy.domain(), copy.domain().wait_for_stop()) +
                        "; console: " + text);
        const std::vector<uint64_t> passes = numbers_after(text, "verified=");
        const bool checked = !passes.empty() && passes.back() >= passes.front() + 2;
        if (checked && now_ns() >= start + run_ms * 1'000'000) return;
        if (now_ns() > deadline)
            throw Error("the copy finished no verify pass in " +
                        std::to_string(run_ms + kCheckSlackMs) + " ms; console: " + text);
        ::usleep(10'000);
    }
}

// ---- one repetition of each side -------------------------------------------------------

struct Migration {
    double total_ms = 0;        // connection made -> copy started
    double downtime_ms = 0;     // source paused -> copy started
    double paused_sent_ms = 0;  // source paused -> the sender's last byte written
    uint32_t rounds = 0;        // counting the last, paused one
    uint64_t pages = 0;         // sent, all rounds
    uint64_t last_round_pages = 0;
    uint64_t bytes = 0;       // the stream
    uint64_t copy_pages = 0;  // restored
    uint64_t guest_rate = 0;  // pages/s, in the guest's last report before
    std::vector<state::PrecopyRound> precopy;
    std::string mechanism;
};

struct Setup {
    hv::Hypervisor& hv;
    const MigrationBenchOptions& o;
    platform::Accel accel;
    DirtyGuest& guest;
};

// One migration of the source into a new domain on the same platform: live (pre-copy,
// then the rest paused) or stop-and-copy (the whole stream paused). The copy runs and is
// checked, then destroyed, and the source resumes.
Migration migrate(Setup& s, bool live) {
    DirtyGuest& g = s.guest;
    Migration m;
    m.guest_rate = g.last_rate();
    Thaw thaw{g};
    Receiver receiver(s.hv, params(live ? "migrated" : "stop-copied", s.o.memory_mib, s.accel));
    uint64_t paused_ns = 0;
    const uint64_t t0 = now_ns();
    // Open until the copy has started: the receiver's progress reports may still be
    // unread, and closing over unread bytes resets the connection under the receiver.
    UniqueFd sock;
    try {
        sock = connect_tcp({"127.0.0.1", receiver.port()}, kConnectTimeout);
        state::FdSink sink(sock.get());
        state::SaveCounts counts;
        if (live) {
            state::Precopy precopy(g.domain());
            m.mechanism = precopy.mechanism();
            state::DomainSaver saver(g.domain(), sink, "");
            state::ReceiverProgress progress(sock.get());
            precopy.run(
                saver, state::PrecopyPolicy{},
                [&](const state::PrecopyRound& r) {
                    if (r.ended) m.precopy.push_back(r);
                },
                [&] { progress.wait_for(saver.bytes()); });
            paused_ns = now_ns();
            g.freeze();
            saver.stop();
            m.last_round_pages = precopy.last_round(saver).pages;
            counts = saver.finish(g.console_info(), std::nullopt);
            m.rounds = precopy.rounds() + 1;
        } else {
            paused_ns = now_ns();
            g.freeze();
            counts = state::save_domain(g.domain(), g.console_info(), sink);
            m.rounds = 1;
            m.last_round_pages = counts.pages.pages;
        }
        m.paused_sent_ms = ms_between(paused_ns, now_ns());
        m.pages = counts.pages.pages;
        m.bytes = counts.bytes;
    } catch (const std::exception&) {
        // The connection is closed: a receiver that failed first says why.
        receiver.wait();
        throw;
    }
    receiver.wait();
    m.total_ms = ms_between(t0, receiver.started_ns());
    m.downtime_ms = ms_between(paused_ns, receiver.started_ns());
    m.copy_pages = receiver.pages().pages;
    check_copy(receiver, s.o.copy_run_ms);
    return m;
}

// The floor: the guest's RAM bytes as they are, sent once over a loopback TCP connection
// to a thread that reads them into fresh memory of the kind a restored domain's RAM is
// (hv::GuestMemory, a memfd mapping faulted in as it is written). From the connection's
// start until the last byte is in; the memory is unmapped untimed.
double send_raw(std::span<const uint8_t> ram) {
    uint16_t port = 0;
    UniqueFd listener = listen_tcp({"127.0.0.1", 0}, 1, port);
    uint64_t done_ns = 0;
    std::exception_ptr error;
    std::jthread reader([&] {
        try {
            UniqueFd fd = accept_within(listener.get(), kConnectTimeout);
            hv::GuestMemory buffer("bench-migration-floor", ram.size());
            receive_all(fd.get(), {buffer.base(), ram.size()});
            done_ns = now_ns();
        } catch (...) {
            error = std::current_exception();
        }
    });
    const uint64_t t0 = now_ns();
    std::exception_ptr sent;
    try {
        UniqueFd sock = connect_tcp({"127.0.0.1", port}, kConnectTimeout);
        send_all(sock.get(), ram);
    } catch (...) {
        sent = std::current_exception();
    }
    reader.join();
    if (error) std::rethrow_exception(error);
    if (sent) std::rethrow_exception(sent);
    return ms_between(t0, done_ns);
}

// ---- the figures -----------------------------------------------------------------------

template <class Field>
std::vector<double> each(const std::vector<Migration>& runs, Field f) {
    std::vector<double> out;
    for (const Migration& m : runs) out.push_back(static_cast<double>(f(m)));
    return out;
}

json rounds_json(const std::vector<state::PrecopyRound>& rounds) {
    json out = json::array();
    for (const state::PrecopyRound& r : rounds)
        out.push_back({{"round", r.round},
                       {"pages", r.sent.pages},
                       {"ms", r.ms},
                       {"written_meanwhile", r.dirty}});
    return out;
}

struct Measured {
    std::vector<Migration> live, stopped;
    std::vector<double> raw_ms;
    uint64_t ram_bytes = 0;
};

json total_figure(const MigrationBenchOptions& o, const Measured& r) {
    const std::vector<double> ours = each(r.live, [](const Migration& m) { return m.total_ms; });
    json b = figure(
        "ms",
        "ours: live migration of a PV `dirty` guest writing its buffer at the set rate, in "
        "process over a loopback TCP connection: state::Precopy (the guest's and the host's "
        "write logs) and state::DomainSaver send RAM, then what was written meanwhile, round "
        "after round (state::PrecopyPolicy's defaults, as xenolithd uses), then the domain is "
        "paused and its last pages and state sent; a receiving thread restores the stream "
        "with state::DomainRestore into a new domain on the same platform, connects its "
        "console and starts it. From the connection's start until the copy is started. "
        "floor: the guest's RAM bytes as they are (all of its memory, not the stream) sent "
        "once over the same kind of connection to a thread reading them into fresh memory "
        "of the kind guest RAM is, until the last byte is in",
        ours, r.raw_ms);
    b.update(ratio_block("ours.median / floor.median (total time / the guest's RAM sent once)",
                         median(ours) / median(r.raw_ms), "<=", o.total_target_ratio,
                         minimum(ours) / minimum(r.raw_ms)));
    b["guest_ram_mib"] = r.ram_bytes / kMiB;
    b["floor_mib_per_s"] = round3(static_cast<double>(r.ram_bytes) / static_cast<double>(kMiB) /
                                  (median(r.raw_ms) / 1e3));
    b["rounds"] = summary(each(r.live, [](const Migration& m) { return m.rounds; }));
    b["pages_sent"] = summary(each(r.live, [](const Migration& m) { return m.pages; }));
    b["stream_bytes"] = summary(each(r.live, [](const Migration& m) { return m.bytes; }));
    b["guest_ram_pages"] = r.ram_bytes / 4096;
    b["guest_write_rate_pages_per_s"] = {
        {"asked", o.rate}, {"reported_before_each_run", each(r.live, [](const Migration& m) {
                                return m.guest_rate;
                            })}};
    b["mechanism"] = r.live.back().mechanism;
    b["last_run_rounds"] = rounds_json(r.live.back().precopy);
    b["copies_checked"] = r.live.size() + r.stopped.size();
    return b;
}

json downtime_figure(const MigrationBenchOptions& o, const Measured& r) {
    const std::vector<double> ours = each(r.live, [](const Migration& m) { return m.downtime_ms; });
    const std::vector<double> peer =
        each(r.stopped, [](const Migration& m) { return m.downtime_ms; });
    json b = figure(
        "ms",
        "ours: the same live migrations, from the source's pause (Domain::pause, its console "
        "drained) until the copy is started: the last round's pages, the vCPUs, event "
        "channels, grant table, console and time sent, the receiver's restore of them "
        "applied, its console connected and the domain started. floor (a peer, not a "
        "floor): stop-and-copy migration of the same guest over the same kind of connection "
        "into a new domain, from its pause until the copy is started (the whole stream sent "
        "and restored with the guest paused: its downtime is its total time less connecting)",
        ours, peer);
    b.update(ratio_block_untargeted(
        "ours.median / floor.median (live downtime / stop-and-copy downtime)",
        median(ours) / median(peer), minimum(ours) / minimum(peer)));
    // The issue's target is on the downtime itself, not on the ratio.
    char target[64];
    std::snprintf(target, sizeof target, "ours.median <= %g ms", o.downtime_target_ms);
    b["target"] = target;
    b["target_met"] = median(ours) <= o.downtime_target_ms;
    b["downtime_ms_median"] = round3(median(ours));
    b["target_ms"] = o.downtime_target_ms;
    b["last_round_pages"] =
        summary(each(r.live, [](const Migration& m) { return m.last_round_pages; }));
    // Where the downtime goes: the sender's part (pause to its last byte written) and the
    // rest, the receiver catching up with what the socket holds and starting the copy.
    b["ours_sender_part_ms"] =
        summary(each(r.live, [](const Migration& m) { return m.paused_sent_ms; }));
    b["floor_sender_part_ms"] =
        summary(each(r.stopped, [](const Migration& m) { return m.paused_sent_ms; }));
    b["policy_target_downtime_ms"] = state::PrecopyPolicy{}.target_downtime.count();
    b["floor_stream_bytes"] = summary(each(r.stopped, [](const Migration& m) { return m.bytes; }));
    return b;
}

const char* platform_name(platform::Accel accel) {
    return accel == platform::Accel::Kvm ? "kvm" : "process";
}

// Both figures on one platform, from the same runs.
void platform_figures(hv::Hypervisor& hv, const MigrationBenchOptions& o, platform::Accel accel,
                      const boot::ElfImage& dirty, json& figures, json& errors) {
    const std::string p = platform_name(accel);
    const std::string total = "live_migration_total_" + p;
    const std::string downtime = "live_migration_downtime_" + p;
    std::optional<DirtyGuest> guest;
    std::optional<Measured> measured;
    record(
        figures, errors, total,
        [&]() -> json {
            guest.emplace(hv, dirty, o, accel);
            // Whether this platform can log the guest's writes: where it cannot, the
            // figures say why, as for a platform that runs no guests.
            try {
                state::Precopy probe(guest->domain());
            } catch (const Error& e) {
                guest.reset();
                figures[downtime] = not_measured(e.what());
                return not_measured(e.what());
            }
            progress("state." + p + ": live migration of a " + std::to_string(o.memory_mib) +
                     " MiB guest writing " + std::to_string(o.buffer_mib) + " MiB at " +
                     std::to_string(o.rate) + " pages/s, " + std::to_string(o.reps) + " reps");
            guest->wait_until_ready();
            guest->wait_for_reports(2);
            Setup s{hv, o, accel, *guest};
            Measured r;
            r.ram_bytes = guest->domain().memory().size();
            const std::span<const uint8_t> ram(guest->domain().memory().base(), r.ram_bytes);
            // Floor and peer against ours, alternating (ABBA...); the source runs at its
            // rate again before each migration (three progress lines seen: the first after
            // a pause spans it, the second holds the burst that catches up).
            interleave(
                o.warmups, o.reps,
                [&](bool rec) {
                    const double raw = send_raw(ram);
                    guest->wait_for_reports(3);
                    Migration m = migrate(s, false);
                    if (rec) r.raw_ms.push_back(raw), r.stopped.push_back(std::move(m));
                },
                [&](bool rec) {
                    guest->wait_for_reports(3);
                    Migration m = migrate(s, true);
                    if (rec) r.live.push_back(std::move(m));
                });
            guest->wait_for_reports(1);
            if (std::string bad = mismatch_in(guest->console()); !bad.empty())
                throw Error("the source lost a write: " + bad);
            measured = std::move(r);
            return total_figure(o, *measured);
        },
        "state.");
    if (figures.contains(downtime)) return;  // not measured, and why
    record(
        figures, errors, downtime,
        [&] {
            if (!measured) throw Error("nothing measured: " + total + " failed");
            return downtime_figure(o, *measured);
        },
        "state.");
}

}  // namespace

json migration_config(const MigrationBenchOptions& o) {
    const state::PrecopyPolicy policy;
    return {{"guest", "dirty"},
            {"memory_mib", o.memory_mib},
            {"buffer_mib", o.buffer_mib},
            {"rate_pages_per_s", o.rate},
            {"report_ms", kReportMs},
            {"verify_ms", kVerifyMs},
            {"reps", o.reps},
            {"warmups", o.warmups},
            {"copy_run_ms", o.copy_run_ms},
            {"connection", "loopback TCP (127.0.0.1)"},
            {"precopy_policy",
             {{"max_rounds", policy.max_rounds},
              {"target_downtime_ms", policy.target_downtime.count()},
              {"min_stop_pages", policy.min_stop_pages},
              {"max_sent_factor", policy.max_sent_factor}}}};
}

void migration_benchmarks(hv::Hypervisor& hv, const MigrationBenchOptions& o, json& figures,
                          json& errors) {
    const std::pair<platform::Accel, const std::string&> platforms[] = {
        {platform::Accel::Process, o.process_reason}, {platform::Accel::Kvm, o.kvm_reason}};
    std::optional<boot::ElfImage> dirty;
    try {
        dirty.emplace(load_guest(o.guest_dir, "dirty"));
    } catch (const std::exception& e) {
        for (const auto& [accel, reason] : platforms) {
            const std::string p = platform_name(accel);
            figures["live_migration_total_" + p] = not_measured(e.what());
            figures["live_migration_downtime_" + p] = not_measured(e.what());
        }
        errors.push_back(std::string("state: ") + e.what());
        return;
    }
    SigpipeIgnored sigpipe;
    for (const auto& [accel, reason] : platforms) {
        const std::string p = platform_name(accel);
        if (reason.empty()) {
            platform_figures(hv, o, accel, *dirty, figures, errors);
        } else {
            figures["live_migration_total_" + p] = not_measured(reason);
            figures["live_migration_downtime_" + p] = not_measured(reason);
        }
    }
}

}  // namespace xenolith::bench
