// Running guests for `make bench`, on whichever platform a figure is about: the guest
// images, a domain booted to its end, and the guest-side halves of the figures that the KVM
// and the process-platform benchmarks share (creation to first hypercall, the `bench`
// guest's hypercall and compute loops).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "boot/elf_image.hpp"
#include "hv/hypervisor.hpp"
#include "platform/select.hpp"

namespace xenolith::launch {
class StoreService;
}

namespace xenolith::bench {

// The hypervisor's clock (CLOCK_MONOTONIC ns).
uint64_t now_ns();
// A progress note on stderr.
void progress(const std::string& s);

// <binary dir>/../guest/apps.
std::string default_guest_dir();
// Loads `dir`/`name`; throws Error naming the build target when it is missing.
boot::ElfImage load_guest(const std::string& dir, const std::string& name);

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

// Destroys a domain when it goes out of scope (a failed figure leaves none behind).
struct DomainReaper {
    hv::Hypervisor& owner;
    ::domid_t id;
    ~DomainReaper() { owner.destroy_domain(id); }
};

// "crashed: ..." or the state and shutdown reason.
std::string stop_description(hv::Domain& d, hv::DomainState s);
// A fresh name, `memory_mib`, one vCPU, on `accel`.
hv::DomainParams params(const std::string& what, uint64_t memory_mib, platform::Accel accel);
// Boots a Pumice guest on `accel` to its end and returns its console; throws Error when it
// does not power off cleanly.
// `before_start`, when given, sees the built domain just before it starts.
std::string run_guest(hv::Hypervisor& hv, const boot::ElfImage& image, const std::string& cmdline,
                      uint64_t memory_mib, platform::Accel accel,
                      launch::StoreService* store = nullptr,
                      const std::function<void(hv::Domain&)>& before_start = {});
// The first line of `console` starting with `prefix`; throws Error when there is none.
std::string line_with(const std::string& console, const std::string& prefix);
// Waits until `d` stops, destroying it after `timeout_ms` (a hung guest must not hang the
// benchmark); returns its final state.
hv::DomainState stop_within(hv::Domain& d, uint64_t timeout_ms);

// create_to_first_hypercall, ours: one `first` guest from create_domain to the vCPU
// thread's first hypercall exit (docs/benchmarks.md, figure 1).
struct CreateOurs {
    double total_us;          // create_domain start -> first hypercall seen
    double create_domain_us;  // hv::Hypervisor::create_domain
    double build_us;          // launch::setup_pv_guest: builder + console backend
    double start_to_hc_us;    // Domain::start -> first hypercall seen
    double to_shutdown_us;    // create_domain start -> the domain has powered off
    double destroy_us;        // Hypervisor::destroy_domain (not in total)
    bool polled_late;         // the poll loop had to yield (see create_ours)
};
CreateOurs create_ours(hv::Hypervisor& hv, const boot::ElfImage& first, uint64_t memory_mib,
                       platform::Accel accel);

// The `bench` guest's `mode=hypercall n=`: ns per call, as the guest timed it.
double hypercall_ours(hv::Hypervisor& hv, const boot::ElfImage& bench, uint64_t n,
                      uint64_t memory_mib, platform::Accel accel);

struct ComputeRun {
    double ns;
    uint64_t result;
};
// The `bench` guest's `mode=compute n=`.
ComputeRun compute_ours(hv::Hypervisor& hv, const boot::ElfImage& bench, uint64_t n,
                        uint64_t memory_mib, platform::Accel accel);
// The same kernel natively on this thread, RDTSC-timed with the pvclock scale.
ComputeRun compute_native(const hv::Hypervisor& hv, uint64_t n);

}  // namespace xenolith::bench
