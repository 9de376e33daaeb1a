#include "platform/process/process_platform.hpp"

#include <cpuid.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <climits>
#include <filesystem>

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "platform/eventfd_endpoint.hpp"
#include "platform/process/dirty_log.hpp"
#include "platform/process/stub/protocol.h"
#include "platform/process/vcpu.hpp"

namespace xenolith::platform::process {

namespace {

uint64_t monotonic_raw_ns() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

// CPUID 0x15: TSC = crystal * EBX / EAX, exact where the crystal's rate (ECX) is given.
uint32_t tsc_khz_from_cpuid() {
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid_max(0, nullptr) < 0x15) return 0;
    __cpuid_count(0x15, 0, eax, ebx, ecx, edx);
    if (eax == 0 || ebx == 0 || ecx == 0) return 0;
    return static_cast<uint32_t>(uint64_t{ecx} * ebx / eax / 1000);
}

// The TSC against CLOCK_MONOTONIC_RAW over ~5 ms; each end brackets a clock read between
// two TSC reads, so that a preemption there shows and the tighter sample is kept.
uint32_t tsc_khz_calibrated() {
    auto sample = [](uint64_t& tsc, uint64_t& ns) {
        uint64_t best = UINT64_MAX;
        for (int i = 0; i < 5; i++) {
            uint64_t t0 = __rdtsc(), n = monotonic_raw_ns(), t1 = __rdtsc();
            if (t1 - t0 < best) best = t1 - t0, tsc = t0 + (t1 - t0) / 2, ns = n;
        }
    };
    // Each sample is bracketed by two TSC reads (the tightest of five): over 5 ms the rate
    // comes out within about 10 ppm, and every process that opens the platform pays it.
    uint64_t tsc0 = 0, ns0 = 0, tsc1 = 0, ns1 = 0;
    sample(tsc0, ns0);
    timespec pause{0, 5'000'000};
    ::nanosleep(&pause, nullptr);
    sample(tsc1, ns1);
    return static_cast<uint32_t>((tsc1 - tsc0) * 1'000'000 / (ns1 - ns0));
}

}  // namespace

std::string default_stub_path() {
    std::error_code ec;
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        std::filesystem::path beside = self.parent_path() / "xenolith-stub";
        if (::access(beside.c_str(), X_OK) == 0) return beside;
    }
    return XENOLITH_STUB_BUILD_PATH;
}

uint32_t measured_tsc_khz() {
    static const uint32_t khz = [] {
        uint32_t k = tsc_khz_from_cpuid();
        return k ? k : tsc_khz_calibrated();
    }();
    return khz;
}

ProcessPlatform::ProcessPlatform(std::string stub_path) : stub_path_(std::move(stub_path)) {}

uint32_t ProcessPlatform::max_vcpus() const {
    return XENOLITH_STUB_MAX_VCPUS;
}

std::unique_ptr<Vm> ProcessPlatform::create_vm(const VmConfig& config) {
    if (config.hvm) throw Error("the process platform cannot run PVH (HVM) guests");
    return std::make_unique<ProcessVm>(stub_path_, config);
}

ProcessVm::ProcessVm(const std::string& stub_path, const VmConfig& config)
    : stub_(std::make_shared<StubProcess>(stub_path, config)), created_(config.vcpus, false) {
    install_kick_handler();
}

// The stub goes with its VM even if a vCPU object lingers (it only sees the stub gone).
ProcessVm::~ProcessVm() {
    stub_->terminate();
}

std::unique_ptr<Vcpu> ProcessVm::create_vcpu(uint32_t id) {
    if (id >= created_.size())
        throw Error("vCPU " + std::to_string(id) + " is beyond the VM's " +
                    std::to_string(created_.size()));
    if (created_[id]) throw Error("vCPU " + std::to_string(id) + " was already created");
    created_[id] = true;
    return std::make_unique<ProcessVcpu>(stub_, id);
}

std::unique_ptr<NotifyEndpoint> ProcessVm::notify_endpoint(uint32_t port) {
    (void)port;  // every port gets the slow path for now
    // No fast path yet: hv/ writes the eventfd on the Notify exit.
    return std::make_unique<EventFdEndpoint>();
}

bool ProcessVm::watch_writes(uint64_t gpa, uint64_t len, bool on) {
    stub_->watch_writes(gpa, len, on);
    return true;
}

std::unique_ptr<DirtyLog> ProcessVm::start_dirty_log() {
    return std::make_unique<ProcessDirtyLog>(stub_);
}

}  // namespace xenolith::platform::process
