#include "bench/state_bench.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "bench/guests.hpp"
#include "bench/ram_mix.hpp"
#include "bench/temp_dir.hpp"
#include "state/domain_save.hpp"
#include "toolstack/launch/pv_guest.hpp"

namespace xenolith::bench {

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr size_t kPage = 4096;
// The floors' I/O size, as `dd bs=1M` would use.
constexpr size_t kChunk = 1 << 20;
// Left as the guest made it at the top of RAM: Pumice's page allocator hands out pages
// from the top (thread stacks, buffers), and a stream of a guest that could run again is
// the realistic one.
constexpr uint64_t kGuestTop = 4 * kMiB;
constexpr uint64_t kMixSeed = 14;  // the number; any fixed seed will do

double seconds_since(uint64_t t0) {
    return static_cast<double>(now_ns() - t0) / 1e9;
}

// ---- files ---------------------------------------------------------------------------

UniqueFd open_file(const std::string& path, int flags) {
    return UniqueFd(static_cast<int>(
        check_syscall(::open(path.c_str(), flags | O_CLOEXEC, 0600), ("open " + path).c_str())));
}

UniqueFd create_file(const std::string& path) {
    return open_file(path, O_WRONLY | O_CREAT | O_TRUNC);
}

// fsync, then close with its error checked: a save is only done once it is on disk.
void sync_and_close(UniqueFd& fd, const std::string& path) {
    check_syscall(::fsync(fd.get()), ("fsync " + path).c_str());
    check_syscall(::close(fd.release()), ("close " + path).c_str());
}

void write_all(int fd, std::span<const uint8_t> bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), std::min(bytes.size(), kChunk));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw SystemError("write", errno);
        bytes = bytes.subspan(static_cast<size_t>(n));
    }
}

void read_all(int fd, std::span<uint8_t> out) {
    while (!out.empty()) {
        const ssize_t n = ::read(fd, out.data(), std::min(out.size(), kChunk));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SystemError("read", errno);
        if (n == 0) throw Error("read: the file ends early");
        out = out.subspan(static_cast<size_t>(n));
    }
}

std::vector<uint8_t> read_whole(const std::string& path) {
    UniqueFd fd = open_file(path, O_RDONLY);
    std::vector<uint8_t> bytes(std::filesystem::file_size(path));
    read_all(fd.get(), bytes);
    return bytes;
}

// The fraction of `path`'s pages in the page cache (mincore): the restore figures say
// both sides read from it, and this checks rather than assumes it.
double page_cache_resident(const std::string& path) {
    UniqueFd fd = open_file(path, O_RDONLY);
    const size_t size = std::filesystem::file_size(path);
    if (size == 0) return 1;
    Mapping map = Mapping::map(fd.get(), size, PROT_READ, MAP_SHARED);
    std::vector<unsigned char> resident((size + kPage - 1) / kPage);
    check_syscall(::mincore(map.data(), size, resident.data()), "mincore");
    const auto in = std::count_if(resident.begin(), resident.end(), [](auto r) { return r & 1; });
    return static_cast<double>(in) / static_cast<double>(resident.size());
}

const char* file_system_name(const struct statfs& s) {
    switch (static_cast<unsigned long>(s.f_type)) {
        case EXT4_SUPER_MAGIC:
            return "ext2/3/4";
        case TMPFS_MAGIC:
            return "tmpfs";
        case XFS_SUPER_MAGIC:
            return "xfs";
        case BTRFS_SUPER_MAGIC:
            return "btrfs";
        case OVERLAYFS_SUPER_MAGIC:
            return "overlayfs";
        default:
            return "other";
    }
}

// Where the files went, for the JSON: the issue compares against "the same file system".
json describe_directory(const StateBenchOptions& o, const std::string& dir) {
    struct statfs fs;
    check_syscall(::statfs(dir.c_str(), &fs), "statfs");
    json d;
    d["directory"] = dir;
    d["chosen_by"] = o.dir.empty() ? "$TMPDIR, else /tmp" : "--state-dir";
    d["file_system"] = file_system_name(fs);
    std::error_code ec;
    const auto build =
        std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().parent_path();
    struct stat a, b;
    if (!ec && ::stat(dir.c_str(), &a) == 0 && ::stat(build.c_str(), &b) == 0) {
        d["build_dir"] = build.string();
        d["same_file_system_as_build_dir"] = a.st_dev == b.st_dev;
    }
    return d;
}

// ---- the guest -------------------------------------------------------------------------

// A `spin` guest started, seen counting, paused, and its free RAM filled with the mix.
// It must have run: save_domain reads each vCPU's state on that vCPU's own thread, parked
// at a pause. It is never resumed; it goes when this does.
class PausedGuest {
  public:
    PausedGuest(hv::Hypervisor& hv, const boot::ElfImage& spin, uint64_t memory_mib,
                platform::Accel accel)
        : domain_(hv.create_domain(params("state-save", memory_mib, accel))),
          reaper_{hv, domain_->id()},
          guest_(launch::setup_pv_guest(hv, *domain_, spin, "ms=600000 report_ms=10",
                                        console_.sink())) {
        domain_->start();
        wait_until_counting();
        domain_->pause();
        mix_ = fill_ram_mix(mix_region(), kMixSeed);
    }
    hv::Domain& domain() { return *domain_; }
    state::ConsoleInfo console() const {
        return {guest_.layout.console_ring, guest_.layout.console_port};
    }
    std::span<const uint8_t> ram() const {
        return {domain_->memory().base(), domain_->memory().size()};
    }
    const RamMix& mix() const { return mix_; }
    uint64_t guest_pages() const {
        return domain_->memory().nr_pages() - mix_.zero_pages - mix_.random_pages - mix_.text_pages;
    }

    // Whether `restored` holds this guest's RAM. Restoring changes two kinds of page on
    // purpose, left out here: shared_info's wall clock is the host's at restore, and grant
    // entries lose GTF_reading/GTF_writing (the source's backend mappings do not travel).
    bool restored_in(const hv::GuestMemory& restored) const {
        const hv::GuestMemory& ram = domain_->memory();
        if (restored.size() != ram.size()) return false;
        std::vector<bool> skip(ram.nr_pages());
        if (auto gpa = domain_->shared_info_gpa()) skip.at(*gpa / kPage) = true;
        const hv::GrantTable& grants = domain_->grant_table();
        for (xen_pfn_t pfn : grants.frame_list(grants.nr_frames())) skip.at(pfn) = true;
        for (uint64_t pfn = 0; pfn < ram.nr_pages(); ++pfn)
            if (!skip[pfn] &&
                std::memcmp(ram.base() + pfn * kPage, restored.base() + pfn * kPage, kPage))
                return false;
        return true;
    }

  private:
    void wait_until_counting() {
        for (uint64_t deadline = now_ns() + 10'000'000'000; now_ns() < deadline;) {
            if (console_.get().find("spin: iter=") != std::string::npos) return;
            if (domain_->stopping())
                throw Error("the spin guest stopped: " +
                            stop_description(*domain_, domain_->wait_for_stop()));
            ::usleep(1000);
        }
        throw Error("the spin guest printed no count in 10 s; console: " + console_.get());
    }
    // Above the builder's pages and the allocator's first-page header, below kGuestTop.
    std::span<uint8_t> mix_region() {
        const uint64_t lo = guest_.layout.first_free + kPage;
        const uint64_t hi = domain_->memory().size() - kGuestTop;
        if (hi <= lo) throw Error("the guest's RAM is too small for the mix");
        return domain_->memory().span(lo, hi - lo);
    }

    // Declared in this order so that the console backend goes first, the domain last.
    std::shared_ptr<hv::Domain> domain_;
    DomainReaper reaper_;
    Console console_;
    launch::PvGuest guest_;
    RamMix mix_;
};

// ---- one repetition of each side -------------------------------------------------------

struct SaveRun {
    double seconds = 0;
    state::SaveCounts counts;
};

SaveRun save_to_file(PausedGuest& g, const std::string& path) {
    const uint64_t t0 = now_ns();
    UniqueFd fd = create_file(path);
    state::FdSink sink(fd.get());
    SaveRun run;
    run.counts = state::save_domain(g.domain(), g.console(), sink);
    sync_and_close(fd, path);
    run.seconds = seconds_since(t0);
    return run;
}

double write_raw(std::span<const uint8_t> ram, const std::string& path) {
    const uint64_t t0 = now_ns();
    UniqueFd fd = create_file(path);
    write_all(fd.get(), ram);
    sync_and_close(fd, path);
    return seconds_since(t0);
}

struct RestoreRun {
    double seconds = 0;
    state::PageCounts pages;
    bool matches = true;  // the new domain's RAM is the saved one's, when compared
};

// The new domain is destroyed on return, outside the timed part; its RAM is compared with
// `saved`'s when that is given.
RestoreRun restore_from_file(hv::Hypervisor& hv, const std::string& path, platform::Accel accel,
                             uint64_t memory_mib, const PausedGuest* saved) {
    const uint64_t t0 = now_ns();
    UniqueFd fd = open_file(path, O_RDONLY);
    state::FdSource source(fd.get());
    state::RestoredDomain r =
        state::restore_domain(hv, params("state-restore", memory_mib, accel), source);
    fd.reset();
    RestoreRun run{seconds_since(t0), r.pages};
    DomainReaper reaper{hv, r.domain->id()};
    if (saved) run.matches = saved->restored_in(r.domain->memory());
    return run;
}

// Into fresh memory of the kind a restored domain's RAM is (a memfd mapping, faulted in
// as it is written), so that both sides pay for populating 256 MiB.
double read_raw(const std::string& path, uint64_t bytes) {
    const uint64_t t0 = now_ns();
    hv::GuestMemory buffer("bench-state-floor", bytes);
    UniqueFd fd = open_file(path, O_RDONLY);
    read_all(fd.get(), {buffer.base(), bytes});
    fd.reset();
    return seconds_since(t0);  // taken before `buffer` is unmapped, as ours' destroy is untimed
}

// A sink that keeps nothing.
class DiscardSink final : public state::ByteSink {
  public:
    void write(std::span<const uint8_t>) override {}
};

// save_domain's own cost (pages read, compressed, records framed), without the file: what
// is left of ours' time beside the floor's once this is taken away is the I/O.
double save_without_file(PausedGuest& g) {
    DiscardSink discard;
    const uint64_t t0 = now_ns();
    state::save_domain(g.domain(), g.console(), discard);
    return seconds_since(t0);
}

// restore_domain's own cost, from the stream's bytes already in memory.
double restore_without_file(hv::Hypervisor& hv, const std::string& path, platform::Accel accel,
                            uint64_t memory_mib) {
    const std::vector<uint8_t> bytes = read_whole(path);
    state::MemorySource source(bytes);
    const uint64_t t0 = now_ns();
    state::RestoredDomain r =
        state::restore_domain(hv, params("state-restore", memory_mib, accel), source);
    const double seconds = seconds_since(t0);
    hv.destroy_domain(r.domain->id());
    return seconds;
}

// ---- the figures -----------------------------------------------------------------------

double mib_per_s(uint64_t bytes, double seconds) {
    return static_cast<double>(bytes) / static_cast<double>(kMiB) / seconds;
}

std::vector<double> throughputs(uint64_t bytes, const std::vector<double>& seconds) {
    std::vector<double> out;
    for (double s : seconds) out.push_back(mib_per_s(bytes, s));
    return out;
}

// The common part of both figures: MiB/s each side, the ratio as times.
json throughput_figure(const std::string& what, uint64_t ram_bytes,
                       const std::vector<double>& ours_s, const std::vector<double>& floor_s) {
    const std::vector<double> ours = throughputs(ram_bytes, ours_s);
    const std::vector<double> floor = throughputs(ram_bytes, floor_s);
    json b = figure("MiB/s of guest RAM", what, ours, floor);
    b.update(ratio_block_untargeted(
        "ours time / floor time, from the medians (= floor.median / ours.median MiB/s; 1 = "
        "as fast as the floor)",
        median(floor) / median(ours), maximum(floor) / maximum(ours)));
    b["ours_ms_median"] = round3(median(ours_s) * 1e3);
    b["floor_ms_median"] = round3(median(floor_s) * 1e3);
    return b;
}

struct Setup {
    hv::Hypervisor& hv;
    const StateBenchOptions& o;
    platform::Accel accel;
    const TempDir& dir;
    json where;  // describe_directory
};

json save_figure(Setup& s, PausedGuest& g) {
    const std::string stream = s.dir / "domain.xnst", raw = s.dir / "ram.raw";
    std::vector<double> ours, floor;
    state::SaveCounts counts;
    interleave(
        s.o.warmups, s.o.reps,
        [&](bool rec) {
            double t = write_raw(g.ram(), raw);
            if (rec) floor.push_back(t);
        },
        [&](bool rec) {
            SaveRun r = save_to_file(g, stream);
            counts = r.counts;
            if (rec) ours.push_back(r.seconds);
        });
    json b = throughput_figure(
        "ours: state::save_domain of a paused PV `spin` guest into a new file through "
        "state::FdSink, then fsync and close (RAM as PAGE_DATA batches of 1024 pages: zero "
        "pages as a flag, the rest zstd level 1). floor: the same guest RAM bytes written to "
        "a new file in the same directory in 1 MiB write()s, then fsync and close",
        g.ram().size(), ours, floor);
    b["ours_without_file_mib_per_s"] = round3(mib_per_s(g.ram().size(), save_without_file(g)));
    b["guest_ram_mib"] = g.ram().size() / kMiB;
    b["stream_bytes"] = counts.bytes;
    b["compression_ratio"] =
        round3(static_cast<double>(g.ram().size()) / static_cast<double>(counts.bytes));
    b["pages"] = {{"total", counts.pages.pages}, {"sent_as_zero", counts.pages.zero_pages}};
    b["ram_mix"] = {{"zero_pages", g.mix().zero_pages},
                    {"random_pages", g.mix().random_pages},
                    {"text_pages", g.mix().text_pages},
                    {"guest_own_pages", g.guest_pages()},
                    {"what", ram_mix_description()}};
    b["files"] = s.where;
    return b;
}

json restore_figure(Setup& s, PausedGuest& g) {
    const std::string stream = s.dir / "domain.xnst", raw = s.dir / "ram.raw";
    const uint64_t bytes = g.ram().size();
    const json cached = {{"stream", round3(page_cache_resident(stream))},
                         {"raw", round3(page_cache_resident(raw))}};
    std::vector<double> ours, floor;
    bool matches = true, checked = false;
    state::PageCounts pages;
    interleave(
        s.o.warmups, s.o.reps,
        [&](bool rec) {
            double t = read_raw(raw, bytes);
            if (rec) floor.push_back(t);
        },
        [&](bool rec) {
            // Compared once, on the first run (a warm-up when there is one), untimed: the
            // check reads 512 MiB, which every run need not repeat.
            const bool check = !std::exchange(checked, true);
            RestoreRun r =
                restore_from_file(s.hv, stream, s.accel, s.o.memory_mib, check ? &g : nullptr);
            matches = matches && r.matches;
            pages = r.pages;
            if (rec) ours.push_back(r.seconds);
        });
    if (!matches) throw Error("the restored domain's RAM differs from the saved domain's");
    json b = throughput_figure(
        "ours: state::restore_domain from the file save wrote, through state::FdSource, into "
        "a new domain on the same platform (created by it; RAM, vCPU, event channels, grant "
        "table applied; left Building, not started), destroyed after each run untimed. floor: "
        "the raw RAM file read back in 1 MiB read()s into fresh memory of the same kind as "
        "guest RAM (hv::GuestMemory, a memfd mapping), unmapped untimed. Both files were "
        "just written and nothing is dropped: both sides read from the page cache",
        bytes, ours, floor);
    b["ours_without_file_mib_per_s"] =
        round3(mib_per_s(bytes, restore_without_file(s.hv, stream, s.accel, s.o.memory_mib)));
    b["guest_ram_mib"] = bytes / kMiB;
    b["pages"] = {{"total", pages.pages}, {"zero", pages.zero_pages}};
    b["ram_matches_source"] = matches;
    b["page_cache_resident"] = cached;
    b["files"] = s.where;
    return b;
}

const char* platform_name(platform::Accel accel) {
    return accel == platform::Accel::Kvm ? "kvm" : "process";
}

// Both figures on one platform: the save's files are the restore's input.
void platform_figures(hv::Hypervisor& hv, const StateBenchOptions& o, platform::Accel accel,
                      const boot::ElfImage& spin, json& figures, json& errors) {
    const std::string p = platform_name(accel);
    std::optional<TempDir> dir;
    std::optional<PausedGuest> guest;
    std::optional<Setup> setup;
    bool saved = false;
    progress("state." + p + ": save and restore of a " + std::to_string(o.memory_mib) +
             " MiB guest, " + std::to_string(o.reps) + " reps");
    record(
        figures, errors, "save_" + p,
        [&] {
            dir.emplace("xenolith-state", o.dir.empty() ? std::filesystem::temp_directory_path()
                                                        : std::filesystem::path(o.dir));
            setup.emplace(Setup{hv, o, accel, *dir, describe_directory(o, dir->path())});
            guest.emplace(hv, spin, o.memory_mib, accel);
            json b = save_figure(*setup, *guest);
            saved = true;
            return b;
        },
        "state.");
    record(
        figures, errors, "restore_" + p,
        [&] {
            if (!saved) throw Error("nothing to restore: save_" + p + " failed");
            return restore_figure(*setup, *guest);
        },
        "state.");
}

}  // namespace

json state_config(const StateBenchOptions& o) {
    return {{"memory_mib", o.memory_mib},
            {"reps", o.reps},
            {"warmups", o.warmups},
            {"dir", o.dir.empty() ? "$TMPDIR, else /tmp" : o.dir},
            {"guest", "spin"},
            {"ram_mix", ram_mix_description()}};
}

void state_benchmarks(hv::Hypervisor& hv, const StateBenchOptions& o, json& figures, json& errors) {
    std::optional<boot::ElfImage> spin;
    try {
        spin.emplace(load_guest(o.guest_dir, "spin"));
    } catch (const std::exception& e) {
        figures["all"] = not_measured(e.what());
        errors.push_back(std::string("state: ") + e.what());
        return;
    }
    const std::pair<platform::Accel, const std::string&> platforms[] = {
        {platform::Accel::Process, o.process_reason}, {platform::Accel::Kvm, o.kvm_reason}};
    for (const auto& [accel, reason] : platforms) {
        const std::string p = platform_name(accel);
        if (reason.empty()) {
            platform_figures(hv, o, accel, *spin, figures, errors);
        } else {
            figures["save_" + p] = not_measured(reason);
            figures["restore_" + p] = not_measured(reason);
        }
    }
}

}  // namespace xenolith::bench
