// xenolith-bench: `make bench`. Prints one JSON document on stdout; every figure is measured
// beside its floor in the same run, repetitions interleaved (floor and ours alternate, in
// alternating order) so that drift on a shared machine hits both, and reported as a ratio.
// Progress notes go to stderr. Exit status: 0, or 1 when any benchmark reported an error
// (a guest that crashed, a compute result that differs from the native one, ...).
// docs/benchmarks.md says what each figure means.
#include <sched.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/bare_vm.hpp"
#include "base/error.hpp"
#include "boot/elf_image.hpp"
#include "boot/pv_builder.hpp"
#include "toolstack/launch/pv_guest.hpp"
#include "common/compute_kernel.hpp"
#include "hv/hypervisor.hpp"
#include "kvm/probe.hpp"

namespace xenolith::bench {
namespace {

using json = nlohmann::ordered_json;  // keys in the order written

struct Options {
    std::string guest_dir;  // default: <binary dir>/../guest/apps
    unsigned create_reps = 41;
    unsigned create_warmups = 5;
    uint64_t create_memory_mib = 16;
    uint64_t hypercall_n = 5000;
    unsigned hypercall_reps = 9;
    uint64_t compute_n = 100'000'000;
    unsigned compute_reps = 7;
    uint64_t guest_memory_mib = 32;  // the Pumice `bench` guest
};

uint64_t now_ns() { return hv::TimeSource::system_time_ns(); }

void progress(const std::string& s) { std::fprintf(stderr, "xenolith-bench: %s\n", s.c_str()); }

// ---- statistics --------------------------------------------------------------------------

double percentile(std::vector<double> v, double p) {
    // Nearest rank on the sorted samples; p in [0, 100].
    std::sort(v.begin(), v.end());
    if (v.empty()) return NAN;
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    if (v.empty()) return NAN;
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double round3(double x) { return std::round(x * 1000) / 1000; }

double minimum(const std::vector<double>& v) {
    return v.empty() ? NAN : *std::min_element(v.begin(), v.end());
}

json summary(const std::vector<double>& v, bool with_samples = true) {
    json j;
    j["median"] = round3(median(v));
    j["p90"] = round3(percentile(v, 90));
    j["min"] = round3(minimum(v));
    j["max"] = round3(v.empty() ? NAN : *std::max_element(v.begin(), v.end()));
    j["reps"] = v.size();
    if (with_samples) {
        json s = json::array();
        for (double x : v) s.push_back(round3(x));
        j["samples"] = s;
    }
    return j;
}

// ---- guests ------------------------------------------------------------------------------

std::string default_guest_dir() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return "build/guest/apps";
    return (exe.parent_path().parent_path() / "guest" / "apps").string();
}

boot::ElfImage load_guest(const std::string& dir, const std::string& name) {
    std::string path = dir + "/" + name;
    if (!std::filesystem::exists(path))
        throw Error("guest image " + path + " is missing: build it with `cmake --build build "
                    "--target guest-" + name + "` (or `make build`), or point --guest-dir at "
                    "the directory holding the guest apps");
    return boot::ElfImage::load(path);
}

// Collects a domain's console output (vCPU threads write, we read after it stopped).
struct Console {
    std::mutex mutex;
    std::string text;
    std::function<void(std::string_view)> sink() {
        return [this](std::string_view s) {
            std::lock_guard lock(mutex);
            text.append(s);
        };
    }
    std::string get() {
        std::lock_guard lock(mutex);
        return text;
    }
};

std::string stop_description(hv::Domain& d, hv::DomainState s) {
    if (s == hv::DomainState::Crashed)
        return "crashed: " + (d.crash_report().empty() ? std::string("SHUTDOWN_crash") : d.crash_report());
    return std::string(hv::state_name(s)) + " (" +
           hv::shutdown_reason_name(d.shutdown_reason().value_or(SHUTDOWN_poweroff)) + ")";
}

unsigned long domain_counter = 0;

hv::DomainParams params(const std::string& what, uint64_t memory_mib) {
    hv::DomainParams p;
    p.name = "bench-" + what + "-" + std::to_string(++domain_counter);
    p.memory_bytes = memory_mib << 20;
    p.vcpus = 1;
    return p;
}

// Boots a Pumice guest to its end and returns its console; throws Error when it does not
// power off cleanly.
std::string run_guest(hv::Hypervisor& hv, const boot::ElfImage& image, const std::string& cmdline,
                      uint64_t memory_mib) {
    auto d = hv.create_domain(params("guest", memory_mib));
    struct Reaper {
        hv::Hypervisor& owner;
        ::domid_t id;
        ~Reaper() { owner.destroy_domain(id); }
    } reaper{hv, d->id()};
    Console console;
    launch::PvGuest guest = launch::setup_pv_guest(hv, *d, image, cmdline, console.sink());
    d->start();
    hv::DomainState end = d->wait_for_stop();
    guest.console.reset();  // its last drain lands in `console`
    std::string out = console.get();
    if (end != hv::DomainState::Shutdown || d->shutdown_reason() != SHUTDOWN_poweroff ||
        d->exit_status().value_or(0) != 0)
        throw Error("guest `" + image.name() + " " + cmdline + "` " + stop_description(*d, end) +
                    "; console: " + out);
    return out;
}

// The first line of `console` starting with `prefix`.
std::string line_with(const std::string& console, const std::string& prefix) {
    size_t at = console.find(prefix);
    if (at == std::string::npos)
        throw Error("the guest did not print '" + prefix + "...'; console: " + console);
    size_t end = console.find('\n', at);
    return console.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// ---- 1. create to first hypercall --------------------------------------------------------

struct CreateOurs {
    double total_us;          // create_domain start -> first hypercall seen
    double create_domain_us;  // hv::Hypervisor::create_domain
    double build_us;          // launch::setup_pv_guest: builder + console backend
    double start_to_hc_us;    // Domain::start -> first hypercall seen
    double to_shutdown_us;    // create_domain start -> the domain has powered off
    double destroy_us;        // Hypervisor::destroy_domain (not in total)
    bool polled_late;         // the poll loop had to yield (see create_ours)
};

// Pins the calling thread to one CPU (the vCPU thread it then starts inherits that), then
// moves it to another for polling; restore() gives the thread its original mask back.
// Does nothing on a one-CPU machine.
class CpuSplit {
public:
    CpuSplit() {
        if (::sched_getaffinity(0, sizeof original_, &original_) != 0 || CPU_COUNT(&original_) < 2) return;
        int here = ::sched_getcpu();
        for (int c = 0; c < CPU_SETSIZE; ++c) {
            if (!CPU_ISSET(c, &original_)) continue;
            if (c == here && vcpu_cpu_ < 0) vcpu_cpu_ = c;
            else if (c != here && poll_cpu_ < 0) poll_cpu_ = c;
        }
        if (vcpu_cpu_ < 0 || poll_cpu_ < 0) return;
        pin(vcpu_cpu_);
        active_ = true;
    }
    void move_poller() {
        if (active_) pin(poll_cpu_);
    }
    void restore() {
        if (active_) ::sched_setaffinity(0, sizeof original_, &original_);
        active_ = false;
    }
    ~CpuSplit() { restore(); }

private:
    static void pin(int cpu) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ::sched_setaffinity(0, sizeof one, &one);
    }
    cpu_set_t original_{};
    int vcpu_cpu_ = -1, poll_cpu_ = -1;
    bool active_ = false;
};

CreateOurs create_ours(hv::Hypervisor& hv, const boot::ElfImage& first, uint64_t memory_mib) {
    hv::DomainParams p = params("first", memory_mib);
    Console console;
    uint64_t t0 = now_ns();
    auto d = hv.create_domain(p);
    uint64_t t1 = now_ns();
    struct Reaper {  // on an exception only; the normal path times destroy_domain itself
        hv::Hypervisor& owner;
        ::domid_t id;
        bool armed = true;
        ~Reaper() {
            if (armed) owner.destroy_domain(id);
        }
    } reaper{hv, d->id()};
    // As a toolstack does: the builder and the console backend (a thread) are both timed.
    launch::PvGuest guest = launch::setup_pv_guest(hv, *d, first, "", console.sink());
    uint64_t t2 = now_ns();
    // vCPU threads inherit the affinity of the thread that starts them: start the domain
    // from one CPU and poll from another, so the poll never sits on the vCPU thread's CPU.
    CpuSplit split;
    d->start();
    split.move_poller();
    // The vCPU thread counts the hypercall as soon as KVM_RUN returns with its exit, before
    // dispatching it. Spin on that counter: on an otherwise idle 2-core machine the vCPU
    // thread has the other core and the spin sees the increment within a cache-line
    // transfer. Spinning must not starve the vCPU thread on a loaded machine, so after
    // kSpinNs the loop yields between polls (the sample is then counted as polled late:
    // it may include the vCPU thread running on while this thread waited for a CPU).
    constexpr uint64_t kSpinNs = 2'000'000;
    const auto& hypercalls = d->vcpu(0).counters().hypercalls;
    bool late = false;
    while (hypercalls.load(std::memory_order_acquire) == 0 && !d->stopping()) {
        _mm_pause();
        if (!late && now_ns() - t2 > kSpinNs) late = true;
        if (late) ::sched_yield();
    }
    uint64_t t3 = now_ns();
    split.restore();
    bool saw_hypercall = hypercalls.load() != 0;
    hv::DomainState end = d->wait_for_stop();
    uint64_t t4 = now_ns();
    std::string why = stop_description(*d, end);
    bool clean = end == hv::DomainState::Shutdown && d->shutdown_reason() == SHUTDOWN_poweroff &&
                 d->vcpu(0).counters().hypercalls.load() == 2;
    ::domid_t id = d->id();
    d.reset();
    reaper.armed = false;
    uint64_t t5 = now_ns();
    guest.console.reset();  // teardown includes the console backend
    hv.destroy_domain(id);
    uint64_t t6 = now_ns();
    if (!saw_hypercall || !clean)
        throw Error("the `first` guest did not make its two hypercalls and power off: " + why);
    return {(t3 - t0) / 1e3, (t1 - t0) / 1e3, (t2 - t1) / 1e3, (t3 - t2) / 1e3, (t4 - t0) / 1e3,
            (t6 - t5) / 1e3, late};
}

struct CreateFloor {
    double total_us;    // KVM_CREATE_VM start -> first port-I/O exit back in user space
    double setup_us;    // VM, RAM, vCPU, page tables, TSS, program, registers
    double run_us;      // the first KVM_RUN
    double destroy_us;  // closing it all (not in total)
};

CreateFloor create_floor(const kvm::System& kvm, uint64_t memory_mib) {
    uint64_t t0 = now_ns();
    std::optional<BareVm> vm;
    vm.emplace(kvm, memory_mib << 20, 1);
    uint64_t t1 = now_ns();
    uint32_t value = vm->run_to_port_exit();
    uint64_t t2 = now_ns();
    vm.reset();
    uint64_t t3 = now_ns();
    if (value != 17) throw Error("floor VM: first exit wrote " + std::to_string(value) + ", not 17");
    return {(t2 - t0) / 1e3, (t1 - t0) / 1e3, (t2 - t1) / 1e3, (t3 - t2) / 1e3};
}

// ---- 2. hypercall round trip -------------------------------------------------------------

double hypercall_ours(hv::Hypervisor& hv, const boot::ElfImage& bench, uint64_t n, uint64_t memory_mib) {
    std::string line = line_with(
        run_guest(hv, bench, "mode=hypercall n=" + std::to_string(n), memory_mib), "bench: hypercall");
    unsigned long long got_n = 0, ns = 0;
    if (std::sscanf(line.c_str(), "bench: hypercall n=%llu ns_per_call=%llu", &got_n, &ns) != 2 ||
        got_n != n)
        throw Error("cannot parse the bench guest's line: " + line);
    return static_cast<double>(ns);
}

struct HypercallFloor {
    double guest_ns_per_exit;  // the guest's RDTSC around the loop, scaled like pvclock
    double host_ns_per_exit;   // the host's clock around the KVM_RUN loop
};

HypercallFloor hypercall_floor(hv::Hypervisor& hv, uint64_t n, uint64_t memory_mib) {
    BareVm vm(hv.kvm(), memory_mib << 20, n);
    uint64_t exits = 0;
    uint64_t t0 = now_ns();
    for (;;) {
        uint32_t v = vm.run_to_port_exit();
        if (v == kDoneMarker) break;
        ++exits;
    }
    uint64_t t1 = now_ns();
    if (exits != n) throw Error("floor VM: " + std::to_string(exits) + " exits, expected " + std::to_string(n));
    double guest_ns = static_cast<double>(hv::scale_delta(vm.loop_ticks(), hv.time().scale()));
    return {guest_ns / static_cast<double>(n), static_cast<double>(t1 - t0) / static_cast<double>(n + 1)};
}

// ---- 3. guest compute --------------------------------------------------------------------

struct ComputeRun {
    double ns;
    uint64_t result;
};

ComputeRun compute_ours(hv::Hypervisor& hv, const boot::ElfImage& bench, uint64_t n, uint64_t memory_mib) {
    std::string line = line_with(
        run_guest(hv, bench, "mode=compute n=" + std::to_string(n), memory_mib), "bench: compute");
    unsigned long long got_n = 0, ns = 0, result = 0;
    if (std::sscanf(line.c_str(), "bench: compute n=%llu ns=%llu result=%llu", &got_n, &ns, &result) != 3 ||
        got_n != n)
        throw Error("cannot parse the bench guest's line: " + line);
    return {static_cast<double>(ns), result};
}

ComputeRun compute_native(const hv::Hypervisor& hv, uint64_t n) {
    // Timed as the guest times itself: TSC deltas scaled with the pvclock scale.
    volatile uint64_t vn = n;  // keep the compiler from specialising on a constant
    uint64_t c0 = __rdtsc();
    uint64_t result = compute_kernel(vn);
    uint64_t c1 = __rdtsc();
    return {static_cast<double>(hv::scale_delta(c1 - c0, hv.time().scale())), result};
}

// ---- driver ------------------------------------------------------------------------------

// Runs `a` and `b` `reps` times, alternating which goes first (ABBA...), after `warmups`
// unrecorded rounds. `name` labels errors.
void interleave(unsigned warmups, unsigned reps, const std::function<void(bool record)>& floor,
                const std::function<void(bool record)>& ours) {
    for (unsigned i = 0; i < warmups; ++i) {
        floor(false);
        ours(false);
    }
    for (unsigned i = 0; i < reps; ++i) {
        if (i % 2 == 0) {
            floor(true);
            ours(true);
        } else {
            ours(true);
            floor(true);
        }
    }
}

std::string iso_date_utc() {
    time_t t = ::time(nullptr);
    tm g{};
    gmtime_r(&t, &g);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &g);
    return buf;
}

json machine_facts() {
    kvm::HostProbe host = kvm::probe_host();
    utsname u{};
    ::uname(&u);
    json m;
    m["kvm_flavour"] = kvm::flavour_name(host.flavour);
    m["kvm_available"] = host.kvm_available;
    if (!host.kvm_error.empty()) m["kvm_error"] = host.kvm_error;
    m["cpu_model"] = host.cpu_model;
    m["host_cpus"] = host.host_cpus;
    m["online_cpus"] = ::sysconf(_SC_NPROCESSORS_ONLN);
    m["host_memory_mib"] = host.host_memory_bytes >> 20;
    m["tsc_khz"] = host.tsc_khz;
    m["kernel"] = std::string(u.sysname) + " " + u.release;
    m["date"] = iso_date_utc();
    double load[3] = {};
    if (::getloadavg(load, 3) == 3) m["loadavg"] = {round3(load[0]), round3(load[1]), round3(load[2])};
    return m;
}

json ratio_block(const char* definition, double ratio, const char* target_op, double target,
                 double ratio_of_best) {
    json j;
    j["ratio"] = round3(ratio);
    j["ratio_is"] = definition;
    // The same ratio from each side's best sample: less sensitive to other load on the
    // machine (which only ever adds time), reported beside the median ratio, not instead.
    j["ratio_of_best"] = round3(ratio_of_best);
    j["target"] = std::string(target_op) + " " + [&] {
        char b[16];
        std::snprintf(b, sizeof b, "%g", target);
        return std::string(b);
    }();
    bool met = std::string(target_op) == "<=" ? ratio <= target : ratio >= target;
    j["target_met"] = std::isfinite(ratio) && met;
    return j;
}

int run(const Options& o) {
    json doc;
    doc["schema"] = "xenolith-bench/1";
    doc["ok"] = false;               // filled in at the end; placed first for readers
    doc["errors"] = json::array();
    doc["machine"] = machine_facts();
    json errors = json::array();
    json benches = json::object();

    std::string guest_dir = o.guest_dir.empty() ? default_guest_dir() : o.guest_dir;
    doc["config"] = {
        {"guest_dir", guest_dir},
        {"create_reps", o.create_reps},
        {"create_warmups", o.create_warmups},
        {"create_memory_mib", o.create_memory_mib},
        {"hypercall_n", o.hypercall_n},
        {"hypercall_reps", o.hypercall_reps},
        {"compute_n", o.compute_n},
        {"compute_reps", o.compute_reps},
        {"bench_guest_memory_mib", o.guest_memory_mib},
        {"order", "floor and ours alternate, the first of each pair alternating (ABBA...)"},
    };

    auto finish = [&] {
        // One line per benchmark first, the details after.
        json brief = json::object();
        for (const auto& [name, b] : benches.items()) {
            brief[name] = {{"unit", b["unit"]},
                           {"ours_median", b["ours"]["median"]},
                           {"floor_median", b["floor"]["median"]},
                           {"ratio", b["ratio"]},
                           {"ratio_is", b["ratio_is"]},
                           {"ratio_of_best", b["ratio_of_best"]},
                           {"target", b["target"]},
                           {"target_met", b["target_met"]}};
        }
        doc["summary"] = brief;
        double load[3] = {};
        if (::getloadavg(load, 3) == 3)
            doc["machine"]["loadavg_end"] = {round3(load[0]), round3(load[1]), round3(load[2])};
        doc["benchmarks"] = benches;
        doc["errors"] = errors;
        doc["ok"] = errors.empty();
        std::printf("%s\n", doc.dump(2).c_str());
        return errors.empty() ? 0 : 1;
    };

    std::optional<hv::Hypervisor> hv_storage;
    std::optional<boot::ElfImage> first, bench;
    try {
        hv_storage.emplace();
        first.emplace(load_guest(guest_dir, "first"));
        bench.emplace(load_guest(guest_dir, "bench"));
    } catch (const std::exception& e) {
        errors.push_back(std::string("setup: ") + e.what());
        std::fprintf(stderr, "xenolith-bench: %s\n", e.what());
        return finish();
    }
    hv::Hypervisor& hv = *hv_storage;

    // 1. create -> first hypercall
    try {
        progress("create_to_first_hypercall: " + std::to_string(o.create_reps) + " reps");
        std::vector<CreateOurs> ours;
        std::vector<CreateFloor> floor;
        interleave(
            o.create_warmups, o.create_reps,
            [&](bool rec) {
                auto f = create_floor(hv.kvm(), o.create_memory_mib);
                if (rec) floor.push_back(f);
            },
            [&](bool rec) {
                auto r = create_ours(hv, *first, o.create_memory_mib);
                if (rec) ours.push_back(r);
            });
        auto col = [](const auto& v, auto field) {
            std::vector<double> out;
            for (const auto& x : v) out.push_back(x.*field);
            return out;
        };
        std::vector<double> ours_total = col(ours, &CreateOurs::total_us);
        std::vector<double> floor_total = col(floor, &CreateFloor::total_us);
        json b;
        b["unit"] = "us";
        b["what"] =
            "ours: wall time on the toolstack thread from calling hv::Hypervisor::create_domain "
            "(16 MiB, 1 vCPU) through boot::build_pv_domain (the `first` ELF already parsed in "
            "memory) and Domain::start until vCPU 0's hypercall counter reads 1, i.e. the vCPU "
            "thread has taken the guest's first hypercall exit (xen_version) out of KVM_RUN; "
            "polled by spinning. floor: on one thread, KVM_CREATE_VM + memfd RAM of the same "
            "size + KVM_CREATE_VCPU + boot/ page tables and I/O TSS + hv::pv_sregs CPL-3 state + "
            "KVM_RUN until the first `out` to the hypercall port returns to user space";
        b["ours"] = summary(ours_total);
        b["floor"] = summary(floor_total);
        b.update(ratio_block("ours.median / floor.median", median(ours_total) / median(floor_total),
                             "<=", 2.0, minimum(ours_total) / minimum(floor_total)));
        b["ours_phases_median_us"] = {
            {"create_domain", round3(median(col(ours, &CreateOurs::create_domain_us)))},
            {"setup_pv_guest", round3(median(col(ours, &CreateOurs::build_us)))},
            {"start_to_first_hypercall", round3(median(col(ours, &CreateOurs::start_to_hc_us)))},
        };
        b["floor_phases_median_us"] = {
            {"setup", round3(median(col(floor, &CreateFloor::setup_us)))},
            {"first_kvm_run", round3(median(col(floor, &CreateFloor::run_us)))},
        };
        b["ours_create_to_shutdown"] = summary(col(ours, &CreateOurs::to_shutdown_us), false);
        // Sanity check of the polling: from the first hypercall seen to the domain's
        // shutdown is the second hypercall's exit plus teardown of the vCPU; near 0 means
        // the first one was observed late.
        std::vector<double> gap;
        for (const auto& x : ours) gap.push_back(x.to_shutdown_us - x.total_us);
        b["ours_first_hypercall_to_shutdown_median_us"] = round3(median(gap));
        b["ours_samples_polled_late"] =
            std::count_if(ours.begin(), ours.end(), [](const CreateOurs& x) { return x.polled_late; });
        b["teardown_median_us"] = {
            {"ours_destroy_domain", round3(median(col(ours, &CreateOurs::destroy_us)))},
            {"floor_close", round3(median(col(floor, &CreateFloor::destroy_us)))},
        };
        benches["create_to_first_hypercall"] = b;
    } catch (const std::exception& e) {
        errors.push_back(std::string("create_to_first_hypercall: ") + e.what());
    }

    // 2. hypercall round trip
    try {
        progress("hypercall_round_trip: n=" + std::to_string(o.hypercall_n) + ", " +
                 std::to_string(o.hypercall_reps) + " reps");
        std::vector<double> ours, floor_guest, floor_host;
        interleave(
            1, o.hypercall_reps,
            [&](bool rec) {
                auto f = hypercall_floor(hv, o.hypercall_n, o.guest_memory_mib);
                if (rec) {
                    floor_guest.push_back(f.guest_ns_per_exit);
                    floor_host.push_back(f.host_ns_per_exit);
                }
            },
            [&](bool rec) {
                double ns = hypercall_ours(hv, *bench, o.hypercall_n, o.guest_memory_mib);
                if (rec) ours.push_back(ns);
            });
        json b;
        b["unit"] = "ns per call";
        b["n"] = o.hypercall_n;
        b["what"] =
            "ours: the `bench` guest (mode=hypercall) times n xen_version(XENVER_version) calls "
            "through the hypercall page with its pvclock (RDTSC) and prints ns/n. floor: a bare "
            "CPL-3 guest loop of n 4-byte `out`s to the same port, the host doing nothing but "
            "KVM_RUN again; the guest times the loop with RDTSC, scaled to ns with the same "
            "pvclock scale";
        b["ours"] = summary(ours);
        b["floor"] = summary(floor_guest);
        b["floor_host_timed"] = summary(floor_host, false);
        b.update(ratio_block("ours.median / floor.median", median(ours) / median(floor_guest), "<=", 1.3,
                             minimum(ours) / minimum(floor_guest)));
        benches["hypercall_round_trip"] = b;
    } catch (const std::exception& e) {
        errors.push_back(std::string("hypercall_round_trip: ") + e.what());
    }

    // 3. guest compute
    try {
        progress("guest_compute: n=" + std::to_string(o.compute_n) + ", " +
                 std::to_string(o.compute_reps) + " reps");
        std::vector<double> guest_ns, native_ns;
        std::vector<uint64_t> guest_results, native_results;
        interleave(
            1, o.compute_reps,
            [&](bool rec) {
                auto r = compute_native(hv, o.compute_n);
                if (rec) native_ns.push_back(r.ns);
                native_results.push_back(r.result);
            },
            [&](bool rec) {
                auto r = compute_ours(hv, *bench, o.compute_n, o.guest_memory_mib);
                if (rec) guest_ns.push_back(r.ns);
                guest_results.push_back(r.result);
            });
        json b;
        b["unit"] = "ns";
        b["n"] = o.compute_n;
        b["what"] =
            "ours: the `bench` guest (mode=compute) runs compute_kernel(n) from "
            "guest/apps/common/compute_kernel.hpp and prints the time it measured with its "
            "pvclock. floor: the same kernel run natively on the benchmark's thread, timed "
            "with RDTSC and the same scale";
        b["ours"] = summary(guest_ns);
        b["floor"] = summary(native_ns);
        double ratio = median(native_ns) / median(guest_ns);
        b.update(ratio_block("floor.median / ours.median (native_ns / guest_ns; 1 = native speed)",
                             ratio, ">=", 0.9, minimum(native_ns) / minimum(guest_ns)));
        bool match = !guest_results.empty() && !native_results.empty();
        for (uint64_t r : guest_results) match = match && r == native_results.front();
        for (uint64_t r : native_results) match = match && r == native_results.front();
        b["result_guest"] = guest_results.empty() ? json(nullptr) : json(guest_results.front());
        b["result_native"] = native_results.empty() ? json(nullptr) : json(native_results.front());
        b["results_match"] = match;
        if (!match) {
            char buf[128];
            std::snprintf(buf, sizeof buf, "guest_compute: guest result %" PRIu64 " != native result %" PRIu64,
                          guest_results.empty() ? 0 : guest_results.front(),
                          native_results.empty() ? 0 : native_results.front());
            errors.push_back(buf);
        }
        benches["guest_compute"] = b;
    } catch (const std::exception& e) {
        errors.push_back(std::string("guest_compute: ") + e.what());
    }

    return finish();
}

}  // namespace
}  // namespace xenolith::bench

int main(int argc, char** argv) {
    xenolith::bench::Options o;
    CLI::App app{"xenolith-bench: Xenolith's benchmarks, each beside its floor, as one JSON "
                 "document on stdout (docs/benchmarks.md)"};
    app.add_option("--guest-dir", o.guest_dir,
                   "directory holding the guest images `first` and `bench` (default: "
                   "<binary>/../guest/apps)");
    app.add_option("--create-reps", o.create_reps, "create_to_first_hypercall repetitions")
        ->check(CLI::PositiveNumber);
    app.add_option("--create-warmups", o.create_warmups, "unrecorded rounds before those");
    app.add_option("--create-memory-mib", o.create_memory_mib, "RAM of the `first` guest and the floor VMs")
        ->check(CLI::Range(16, 4096));
    app.add_option("--hypercall-n", o.hypercall_n, "hypercalls per hypercall_round_trip run")
        ->check(CLI::PositiveNumber);
    app.add_option("--hypercall-reps", o.hypercall_reps, "hypercall_round_trip repetitions")
        ->check(CLI::PositiveNumber);
    app.add_option("--compute-n", o.compute_n, "compute_kernel rounds per guest_compute run")
        ->check(CLI::PositiveNumber);
    app.add_option("--compute-reps", o.compute_reps, "guest_compute repetitions")->check(CLI::PositiveNumber);
    app.add_option("--guest-memory-mib", o.guest_memory_mib, "RAM of the Pumice `bench` guest")
        ->check(CLI::Range(16, 4096));
    CLI11_PARSE(app, argc, argv);
    return xenolith::bench::run(o);
}
