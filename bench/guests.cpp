// How the benchmarks run guests: loading the images, booting a domain on a chosen
// platform to its end, and the guest-side figures (creation, hypercalls, compute) shared by
// the KVM and the process-platform benchmarks.
#include "bench/guests.hpp"

#include <sched.h>
#include <unistd.h>
#include <x86intrin.h>

#include <cstdio>
#include <filesystem>

#include "base/error.hpp"
#include "common/compute_kernel.hpp"
#include "hv/hypercall.hpp"
#include "toolstack/launch/pv_guest.hpp"

namespace xenolith::bench {

uint64_t now_ns() {
    return hv::TimeSource::system_time_ns();
}

void progress(const std::string& s) {
    std::fprintf(stderr, "xenolith-bench: %s\n", s.c_str());
}

namespace {
unsigned long domain_counter = 0;
}  // namespace

std::string default_guest_dir() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return "build/guest/apps";
    return (exe.parent_path().parent_path() / "guest" / "apps").string();
}

boot::ElfImage load_guest(const std::string& dir, const std::string& name) {
    std::string path = dir + "/" + name;
    if (!std::filesystem::exists(path))
        throw Error("guest image " + path +
                    " is missing: build it with `cmake --build build "
                    "--target guest-" +
                    name +
                    "` (or `make build`), or point --guest-dir at "
                    "the directory holding the guest apps");
    return boot::ElfImage::load(path);
}

std::string stop_description(hv::Domain& d, hv::DomainState s) {
    if (s == hv::DomainState::Crashed)
        return "crashed: " +
               (d.crash_report().empty() ? std::string("SHUTDOWN_crash") : d.crash_report());
    return std::string(hv::state_name(s)) + " (" +
           hv::shutdown_reason_name(d.shutdown_reason().value_or(SHUTDOWN_poweroff)) + ")";
}

hv::DomainParams params(const std::string& what, uint64_t memory_mib, platform::Accel accel) {
    hv::DomainParams p;
    p.accel = accel;
    p.name = "bench-" + what + "-" + std::to_string(++domain_counter);
    p.memory_bytes = memory_mib << 20;
    p.vcpus = 1;
    return p;
}

std::string run_guest(hv::Hypervisor& hv, const boot::ElfImage& image, const std::string& cmdline,
                      uint64_t memory_mib, platform::Accel accel, launch::StoreService* store,
                      const std::function<void(hv::Domain&)>& before_start) {
    auto d = hv.create_domain(params("guest", memory_mib, accel));
    DomainReaper reaper{hv, d->id()};
    Console console;
    launch::PvGuest guest = launch::setup_pv_guest(hv, *d, image, cmdline, console.sink(), store);
    if (before_start) before_start(*d);
    d->start();
    hv::DomainState end = d->wait_for_stop();
    guest.console.reset();  // its last drain lands in `console`
    guest.devices.reset();
    guest.store.reset();
    std::string out = console.get();
    if (end != hv::DomainState::Shutdown || d->shutdown_reason() != SHUTDOWN_poweroff ||
        d->exit_status().value_or(0) != 0)
        throw Error("guest `" + image.name() + " " + cmdline + "` " + stop_description(*d, end) +
                    "; console: " + out);
    return out;
}

std::string line_with(const std::string& console, const std::string& prefix) {
    size_t at = console.find(prefix);
    if (at == std::string::npos)
        throw Error("the guest did not print '" + prefix + "...'; console: " + console);
    size_t end = console.find('\n', at);
    return console.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

hv::DomainState stop_within(hv::Domain& d, uint64_t timeout_ms) {
    uint64_t deadline = now_ns() + timeout_ms * 1'000'000;
    while (!d.stopping() && now_ns() < deadline) ::usleep(500);
    if (!d.stopping()) d.destroy();
    return d.wait_for_stop();
}

namespace {

// Pins the calling thread to one CPU (the vCPU thread it then starts inherits that), then
// moves it to another for polling; restore() gives the thread its original mask back.
// Does nothing on a one-CPU machine.
class CpuSplit {
  public:
    CpuSplit() {
        if (::sched_getaffinity(0, sizeof original_, &original_) != 0 || CPU_COUNT(&original_) < 2)
            return;
        int here = ::sched_getcpu();
        for (int c = 0; c < CPU_SETSIZE; ++c) {
            if (!CPU_ISSET(c, &original_)) continue;
            if (c == here && vcpu_cpu_ < 0)
                vcpu_cpu_ = c;
            else if (c != here && poll_cpu_ < 0)
                poll_cpu_ = c;
        }
        if (vcpu_cpu_ < 0 || poll_cpu_ < 0) return;
        pin(vcpu_cpu_);
        active_ = true;
    }
    void move_poller() {
        if (active_) pin(poll_cpu_);
    }
    // The vCPU thread pins itself to the CPU its pool dispatched it on, which may be the
    // poller's: then the poller moves to another CPU of the original mask.
    void avoid(int cpu) {
        if (!active_ || cpu != poll_cpu_) return;
        for (int c = 0; c < CPU_SETSIZE; ++c) {
            if (CPU_ISSET(c, &original_) && c != cpu) {
                poll_cpu_ = c;
                pin(c);
                return;
            }
        }
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

}  // namespace

CreateOurs create_ours(hv::Hypervisor& hv, const boot::ElfImage& first, uint64_t memory_mib,
                       platform::Accel accel) {
    hv::DomainParams p = params("first", memory_mib, accel);
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
    // The vCPU thread then pins itself where its CPU pool dispatched it; if that is the
    // poller's CPU, the poller moves (CpuSplit::avoid), or its spin would hold the vCPU
    // thread off for the whole of kSpinNs.
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
    // On the process platform the guest runs in a stub thread that no pool pins and the
    // poller cannot see: a spinning poller on its CPU would hold the guest off, so the
    // poller yields between every look there (a yield costs about a microsecond).
    const bool yield_always = accel == platform::Accel::Process;
    int avoided = -1;
    while (hypercalls.load(std::memory_order_acquire) == 0 && !d->stopping()) {
        if (std::optional<unsigned> at = d->vcpu(0).last_cpu(); at && int(*at) != avoided) {
            avoided = int(*at);
            split.avoid(avoided);
        }
        _mm_pause();
        if (!late && now_ns() - t2 > kSpinNs) late = true;
        if (late || yield_always) ::sched_yield();
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
    return {(t3 - t0) / 1e3,
            (t1 - t0) / 1e3,
            (t2 - t1) / 1e3,
            (t3 - t2) / 1e3,
            (t4 - t0) / 1e3,
            (t6 - t5) / 1e3,
            late};
}

double hypercall_ours(hv::Hypervisor& hv, const boot::ElfImage& bench, uint64_t n,
                      uint64_t memory_mib, platform::Accel accel) {
    std::string line =
        line_with(run_guest(hv, bench, "mode=hypercall n=" + std::to_string(n), memory_mib, accel),
                  "bench: hypercall");
    unsigned long long got_n = 0, ns = 0;
    if (std::sscanf(line.c_str(), "bench: hypercall n=%llu ns_per_call=%llu", &got_n, &ns) != 2 ||
        got_n != n)
        throw Error("cannot parse the bench guest's line: " + line);
    return static_cast<double>(ns);
}

ComputeRun compute_ours(hv::Hypervisor& hv, const boot::ElfImage& bench, uint64_t n,
                        uint64_t memory_mib, platform::Accel accel) {
    std::string line =
        line_with(run_guest(hv, bench, "mode=compute n=" + std::to_string(n), memory_mib, accel),
                  "bench: compute");
    unsigned long long got_n = 0, ns = 0, result = 0;
    if (std::sscanf(line.c_str(), "bench: compute n=%llu ns=%llu result=%llu", &got_n, &ns,
                    &result) != 3 ||
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

}  // namespace xenolith::bench
