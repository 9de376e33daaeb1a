// xenolith-process-measure: what the process platform's mechanism costs here, against the
// bare mechanism underneath it. Prints medians; asserts nothing.
//   1. a hypercall round trip through Vcpu::run() (out -> #GP -> ptrace stop -> resume)
//      against a bare ptrace loop: a traced child doing `out` in a loop, the tracer doing
//      CONT, waitpid, GETREGS, skip, SETREGS;
//   2. create_vm() to the first exit, against posix_spawn of a static binary to its exit.
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "platform/process/process_platform.hpp"

using namespace xenolith;
using namespace xenolith::platform;
using namespace xenolith::platform::process;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kRam = 16 << 20;
constexpr uint64_t kCode = 0x100000;
constexpr int kRoundTrips = 20000;
constexpr int kStarts = 200;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Median over `reps` batches of `n` calls of `body`, in microseconds per call.
double per_call_us(int reps, int n, const std::function<void()>& body) {
    std::vector<double> samples;
    for (int r = 0; r < reps; r++) {
        auto t0 = Clock::now();
        for (int i = 0; i < n; i++) body();
        std::chrono::duration<double, std::micro> d = Clock::now() - t0;
        samples.push_back(d.count() / n);
    }
    return median(samples);
}

struct GuestRam {
    UniqueFd fd{static_cast<int>(check_syscall(::memfd_create("guest-ram", MFD_CLOEXEC), "memfd"))};
    Mapping map;
    GuestRam() {
        check_syscall(::ftruncate(fd.get(), kRam), "ftruncate");
        map = Mapping::map(fd.get(), kRam, PROT_READ | PROT_WRITE, MAP_SHARED);
        const uint8_t loop[] = {0xe7, 0x58, 0xeb, 0xfc};  // 1: out %eax, $0x58; jmp 1b
        std::memcpy(map.data() + kCode, loop, sizeof loop);
    }
    VmConfig config() const {
        VmConfig c;
        c.ram = Ram{fd.get(), map.data(), kRam};
        return c;
    }
};

BootContext boot_context() {
    BootContext ctx;
    ctx.regs.rip = kCode;
    ctx.regs.rsp = kCode;
    return ctx;
}

double platform_round_trip_us(ProcessPlatform& platform, const GuestRam& ram) {
    auto vm = platform.create_vm(ram.config());
    auto vcpu = vm->create_vcpu(0);
    vcpu->boot(boot_context());
    return per_call_us(7, kRoundTrips / 7, [&] {
        if (vcpu->run().kind != Exit::Kind::Hypercall) throw Error("not a hypercall exit");
        vcpu->regs().rax = 0;
        vcpu->mark_regs_dirty();
    });
}

[[noreturn]] void traced_out_loop() {
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    ::raise(SIGSTOP);
    for (;;) __asm__ volatile("out %%eax, $0x58" ::"a"(0));
}

double bare_ptrace_round_trip_us() {
    pid_t child = ::fork();
    if (child == 0) traced_out_loop();
    int status;
    ::waitpid(child, &status, 0);  // the SIGSTOP
    int sig = 0;                   // the first CONT suppresses the SIGSTOP
    double us = per_call_us(7, kRoundTrips / 7, [&] {
        ::ptrace(PTRACE_CONT, child, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
        ::waitpid(child, &status, __WALL);
        user_regs_struct regs;
        ::ptrace(PTRACE_GETREGS, child, nullptr, &regs);
        regs.rip += 2;
        ::ptrace(PTRACE_SETREGS, child, nullptr, &regs);
    });
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    return us;
}

double create_to_first_exit_ms(ProcessPlatform& platform, const GuestRam& ram) {
    std::vector<double> samples;
    for (int i = 0; i < kStarts; i++) {
        auto t0 = Clock::now();
        auto vm = platform.create_vm(ram.config());
        auto vcpu = vm->create_vcpu(0);
        vcpu->boot(boot_context());
        if (vcpu->run().kind != Exit::Kind::Hypercall) throw Error("not a hypercall exit");
        std::chrono::duration<double, std::milli> d = Clock::now() - t0;
        samples.push_back(d.count());
    }
    return median(samples);
}

double destroy_ms(ProcessPlatform& platform, const GuestRam& ram) {
    std::vector<double> samples;
    for (int i = 0; i < kStarts / 4; i++) {
        auto vm = platform.create_vm(ram.config());
        auto vcpu = vm->create_vcpu(0);
        vcpu->boot(boot_context());
        vcpu->run();
        auto t0 = Clock::now();
        vm.reset();
        std::chrono::duration<double, std::milli> d = Clock::now() - t0;
        samples.push_back(d.count());
    }
    return median(samples);
}

// posix_spawn of a static binary until it has exited (its first and only event).
double spawn_static_ms(const char* path, const char* arg) {
    std::vector<double> samples;
    for (int i = 0; i < kStarts; i++) {
        char* argv[] = {const_cast<char*>(path), const_cast<char*>(arg), nullptr};
        char* envp[] = {nullptr};
        auto t0 = Clock::now();
        pid_t pid;
        if (::posix_spawn(&pid, path, nullptr, nullptr, argv, envp) != 0)
            throw Error(std::string("cannot spawn ") + path);
        int status;
        ::waitpid(pid, &status, 0);
        std::chrono::duration<double, std::milli> d = Clock::now() - t0;
        samples.push_back(d.count());
    }
    return median(samples);
}

}  // namespace

int main() {
    try {
        GuestRam ram;
        ProcessPlatform platform;
        double bare = bare_ptrace_round_trip_us();
        double ours = platform_round_trip_us(platform, ram);
        std::printf("hypercall round trip: run() %.1f us, bare ptrace loop %.1f us, ratio %.2f\n",
                    ours, bare, ours / bare);
        double start = create_to_first_exit_ms(platform, ram);
        double spawn_stub = spawn_static_ms(default_stub_path().c_str(), nullptr);
        double spawn_busybox = spawn_static_ms("/bin/busybox", "true");
        std::printf("create_vm to first exit: %.2f ms; Vm destruction %.2f ms\n", start,
                    destroy_ms(platform, ram));
        std::printf(
            "posix_spawn to exit: the stub binary (no arguments) %.2f ms, "
            "/bin/busybox true %.2f ms\n",
            spawn_stub, spawn_busybox);
        std::printf("tsc: %u kHz\n", platform.tsc_khz());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xenolith-process-measure: %s\n", e.what());
        return 1;
    }
}
