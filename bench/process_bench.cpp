#include "bench/process_bench.hpp"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

#include "abi/xen.hpp"
#include "abi/xenolith.h"
#include "base/error.hpp"
#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "bench/guests.hpp"
#include "hv/host_channel.hpp"
#include "hv/pvclock.hpp"
#include "tests/unit/boot/elf_builder.hpp"
#include "toolstack/launch/pv_guest.hpp"

namespace xenolith::bench {

std::string floor_program(const char* name) {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        auto beside = exe.parent_path() / (std::string("xenolith-bench-") + name);
        if (::access(beside.c_str(), X_OK) == 0) return beside;
    }
    std::string built = std::string(name) == "trap"   ? XENOLITH_BENCH_TRAP_PATH
                        : std::string(name) == "true" ? XENOLITH_BENCH_TRUE_PATH
                                                      : XENOLITH_BENCH_IDLE_PATH;
    if (::access(built.c_str(), X_OK) != 0)
        throw Error("the floor program " + built + " is missing: build the target xenolith-bench-" +
                    name);
    return built;
}

namespace {

constexpr platform::Accel kProcess = platform::Accel::Process;

double ticks_to_ns(const hv::Hypervisor& hv, uint64_t ticks) {
    return static_cast<double>(hv::scale_delta(ticks, hv.time().scale()));
}

// One shared, zeroed page: a forked child's results come back through it.
class SharedPage {
  public:
    SharedPage() {
        void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw SystemError("mmap", errno);
        words_ = static_cast<uint64_t*>(p);
    }
    ~SharedPage() { ::munmap(words_, 4096); }
    SharedPage(const SharedPage&) = delete;
    SharedPage& operator=(const SharedPage&) = delete;
    uint64_t* words() const { return words_; }

  private:
    uint64_t* words_;
};

// Kills and reaps a child on the way out unless it was reaped already.
struct ChildReaper {
    pid_t pid;
    bool reaped = false;
    ~ChildReaper() {
        if (reaped) return;
        ::kill(pid, SIGKILL);
        int status;
        ::waitpid(pid, &status, __WALL);
    }
};

std::string describe_status(int status) {
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSTOPPED(status)) return "stopped by signal " + std::to_string(WSTOPSIG(status));
    return "status " + std::to_string(status);
}

// ---- hypercall round trip: the bare trap loop ---------------------------------------------

// The traced child: `n` traps, then the loop's RDTSC delta into words[0].
[[noreturn]] void traced_trap_loop(uint64_t n, uint64_t* words) {
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    ::raise(SIGSTOP);
    uint64_t t0 = __rdtsc();
    for (uint64_t i = 0; i < n; ++i) asm volatile("out %%eax, $0x58" ::"a"(17) : "memory");
    words[0] = __rdtsc() - t0;
    ::_exit(0);
}

struct PerRound {
    double timed_inside_ns;  // RDTSC inside the guest or child, pvclock-scaled
    double host_ns;          // the host's clock around the whole run
};

// Pins the calling thread to the CPU it is on, for the object's life (a child forked
// meanwhile inherits it): the tracer and its tracee on one CPU, as the process platform
// keeps a stub thread on its vCPU thread's CPU. Across two CPUs a trap round trip costs
// some thirty times more here, which would make a floor no floor.
class PinnedToThisCpu {
  public:
    PinnedToThisCpu() {
        ::sched_getaffinity(0, sizeof saved_, &saved_);
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(static_cast<unsigned>(std::max(0, ::sched_getcpu())), &one);
        ::sched_setaffinity(0, sizeof one, &one);
    }
    ~PinnedToThisCpu() { ::sched_setaffinity(0, sizeof saved_, &saved_); }
    PinnedToThisCpu(const PinnedToThisCpu&) = delete;
    PinnedToThisCpu& operator=(const PinnedToThisCpu&) = delete;

  private:
    cpu_set_t saved_;
};

PerRound trap_loop_floor(const hv::Hypervisor& hv, uint64_t n) {
    SharedPage page;
    PinnedToThisCpu pinned;
    pid_t child = ::fork();
    if (child < 0) throw SystemError("fork", errno);
    if (child == 0) traced_trap_loop(n, page.words());
    ChildReaper reaper{child};
    int status = 0;
    if (::waitpid(child, &status, 0) != child || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP)
        throw Error("trap floor: the child did not stop for its tracer (" +
                    describe_status(status) + ")");
    uint64_t traps = 0;
    uint64_t t0 = now_ns();
    for (;;) {
        // Signal 0: neither the first SIGSTOP nor any SIGSEGV is delivered.
        if (::ptrace(PTRACE_CONT, child, nullptr, nullptr) < 0)
            throw SystemError("PTRACE_CONT", errno);
        if (::waitpid(child, &status, __WALL) != child) throw SystemError("waitpid", errno);
        if (WIFEXITED(status)) break;
        if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGSEGV)
            throw Error("trap floor: the child " + describe_status(status));
        user_regs_struct regs;
        if (::ptrace(PTRACE_GETREGS, child, nullptr, &regs) < 0)
            throw SystemError("PTRACE_GETREGS", errno);
        regs.rip += 2;  // past `out %eax, $imm8`
        if (::ptrace(PTRACE_SETREGS, child, nullptr, &regs) < 0)
            throw SystemError("PTRACE_SETREGS", errno);
        ++traps;
    }
    uint64_t t1 = now_ns();
    reaper.reaped = true;
    if (WEXITSTATUS(status) != 0 || traps != n)
        throw Error("trap floor: " + std::to_string(traps) + " traps (expected " +
                    std::to_string(n) + "), then " + describe_status(status));
    return {ticks_to_ns(hv, page.words()[0]) / static_cast<double>(n),
            static_cast<double>(t1 - t0) / static_cast<double>(n + 1)};
}

json hypercall_round_trip(hv::Hypervisor& hv, const ProcessBenchOptions& o,
                          const boot::ElfImage& bench) {
    progress("process.hypercall_round_trip: n=" + std::to_string(o.hypercall_n) + ", " +
             std::to_string(o.hypercall_reps) + " reps");
    std::vector<double> ours, floor, floor_host;
    interleave(
        1, o.hypercall_reps,
        [&](bool rec) {
            PerRound f = trap_loop_floor(hv, o.hypercall_n);
            if (rec) floor.push_back(f.timed_inside_ns), floor_host.push_back(f.host_ns);
        },
        [&](bool rec) {
            double ns = hypercall_ours(hv, bench, o.hypercall_n, o.guest_memory_mib, kProcess);
            if (rec) ours.push_back(ns);
        });
    json b = figure(
        "ns per call",
        "ours: the `bench` guest (mode=hypercall) on the process platform times n "
        "xen_version(XENVER_version) calls through its hypercall page with its pvclock; each "
        "is an `out` that raises #GP in the stub process, a ptrace stop seen by the vCPU "
        "thread, decoding, dispatch and PTRACE_CONT. floor: a forked child process, traced "
        "with PTRACE_TRACEME, doing n `out %eax, $0x58` in a loop and timing it with RDTSC "
        "(pvclock-scaled); its tracer does waitpid, PTRACE_GETREGS, RIP += 2, PTRACE_SETREGS, "
        "PTRACE_CONT for each",
        ours, floor);
    b["n"] = o.hypercall_n;
    b["floor_host_timed"] = summary(floor_host, false);
    b.update(ratio_block("ours.median / floor.median", median(ours) / median(floor), "<=", 1.2,
                         minimum(ours) / minimum(floor)));
    return b;
}

// ---- guest-to-backend notify -------------------------------------------------------------

// Answers `rounds` notifications on `fd` (an eventfd) by storing the running count into
// *slot, which the notifier spins on: the same work behind ours and the floor.
class Responder {
  public:
    Responder(int fd, uint64_t rounds, uint64_t* slot)
        : thread_([this, fd, rounds, slot] { run(fd, rounds, slot); }) {}
    ~Responder() { finish(); }
    // Stops and joins; throws if reading the eventfd failed.
    void finish() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        if (failed_) throw Error("reading the notification eventfd failed");
    }

  private:
    void run(int fd, uint64_t rounds, uint64_t* slot) {
        std::atomic_ref<uint64_t> answer(*slot);
        uint64_t answered = 0;
        while (answered < rounds && !stop_.load(std::memory_order_relaxed)) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;  // the timeout only lets `stop_` be seen
            uint64_t v = 0;
            if (::read(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) {
                if (errno == EAGAIN || errno == EINTR) continue;
                failed_ = true;
                return;
            }
            answered += v;
            answer.store(answered, std::memory_order_release);
        }
    }
    std::atomic<bool> stop_{false};
    std::atomic<bool> failed_{false};
    std::thread thread_;
};

// The floor's notifier: a process that writes the eventfd and spins until answered.
[[noreturn]] void eventfd_notify_loop(int fd, uint64_t rounds, uint64_t* words) {
    std::atomic_ref<uint64_t> answer(words[0]);
    uint64_t t0 = __rdtsc();
    for (uint64_t i = 1; i <= rounds; ++i) {
        uint64_t one = 1;
        if (::write(fd, &one, sizeof one) != static_cast<ssize_t>(sizeof one)) ::_exit(2);
        while (answer.load(std::memory_order_acquire) < i) _mm_pause();
    }
    words[3] = __rdtsc() - t0;
    ::_exit(0);
}

PerRound notify_floor(const hv::Hypervisor& hv, uint64_t rounds) {
    SharedPage page;
    UniqueFd fd(
        static_cast<int>(check_syscall(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")));
    Responder responder(fd.get(), rounds, &page.words()[0]);
    uint64_t t0 = now_ns();
    pid_t child = ::fork();
    if (child < 0) throw SystemError("fork", errno);
    if (child == 0) eventfd_notify_loop(fd.get(), rounds, page.words());
    ChildReaper reaper{child};
    int status = 0;
    if (::waitpid(child, &status, 0) != child) throw SystemError("waitpid", errno);
    uint64_t t1 = now_ns();
    reaper.reaped = true;
    responder.finish();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw Error("notify floor: the child " + describe_status(status));
    return {ticks_to_ns(hv, page.words()[3]) / static_cast<double>(rounds),
            static_cast<double>(t1 - t0) / static_cast<double>(rounds)};
}

// A guest of a few instructions (no Pumice), built here as a PV ELF image: at 0x100000 the
// code, at 0x101000 the hypercall page, at 0x102000 its data:
//   data[0] the backend's answer (the count of notifications it has seen), data[1] rounds,
//   data[2] the port, data[3] the loop's RDTSC delta, data[4] a sched_shutdown_t.
// The code:
//      lea data(%rip), %rdi;  mov 8(%rdi), %rcx;  mov 16(%rdi), %r10d
//      start = rdtsc;  r9 = 0
//   1: inc %r9;  mov %r10d, %eax;  out %eax, $XENOLITH_NOTIFY_PORT
//   2: pause;  cmp %r9, (%rdi);  jb 2b          (until the backend's store reaches r9)
//      cmp %rcx, %r9;  jb 1b
//      data[3] = rdtsc - start
//      sched_op(SCHEDOP_shutdown, &data[4]) as `out %eax(=29), $XENOLITH_HYPERCALL_PORT`;  ud2
constexpr uint64_t kNotifyBase = 0x100000;
constexpr uint64_t kNotifyData = kNotifyBase + 0x2000;

boot::ElfImage notify_guest_image() {
    static const uint8_t code[] = {
        0x48, 0x8d, 0x3d, 0xf9, 0x1f, 0x00, 0x00,  // lea 0x1ff9(%rip), %rdi   (= data)
        0x48, 0x8b, 0x4f, 0x08,                    // mov 0x8(%rdi), %rcx
        0x44, 0x8b, 0x57, 0x10,                    // mov 0x10(%rdi), %r10d
        0x0f, 0x31,                                // rdtsc
        0x48, 0xc1, 0xe2, 0x20,                    // shl $0x20, %rdx
        0x48, 0x09, 0xc2,                          // or %rax, %rdx
        0x49, 0x89, 0xd0,                          // mov %rdx, %r8
        0x45, 0x31, 0xc9,                          // xor %r9d, %r9d
        0x49, 0xff, 0xc1,                          // 1: inc %r9
        0x44, 0x89, 0xd0,                          // mov %r10d, %eax
        0xe7, 0x5c,                                // out %eax, $0x5c
        0xf3, 0x90,                                // 2: pause
        0x4c, 0x39, 0x0f,                          // cmp %r9, (%rdi)
        0x72, 0xf9,                                // jb 2b
        0x49, 0x39, 0xc9,                          // cmp %rcx, %r9
        0x72, 0xec,                                // jb 1b
        0x0f, 0x31,                                // rdtsc
        0x48, 0xc1, 0xe2, 0x20,                    // shl $0x20, %rdx
        0x48, 0x09, 0xc2,                          // or %rax, %rdx
        0x4c, 0x29, 0xc2,                          // sub %r8, %rdx
        0x48, 0x89, 0x57, 0x18,                    // mov %rdx, 0x18(%rdi)
        0xbf, 0x02, 0x00, 0x00, 0x00,              // mov $SCHEDOP_shutdown, %edi
        0x48, 0x8d, 0x35, 0xd2, 0x1f, 0x00, 0x00,  // lea 0x1fd2(%rip), %rsi  (= data + 32)
        0xb8, 0x1d, 0x00, 0x00, 0x00,              // mov $__HYPERVISOR_sched_op, %eax
        0xe7, 0x58,                                // out %eax, $0x58
        0x0f, 0x0b,                                // ud2
    };
    static_assert(XENOLITH_NOTIFY_PORT == 0x5c && XENOLITH_HYPERCALL_PORT == 0x58);
    static_assert(SCHEDOP_shutdown == 2 && __HYPERVISOR_sched_op == 29 && SHUTDOWN_poweroff == 0);
    std::vector<uint8_t> bytes(0x3000, 0);
    std::memcpy(bytes.data(), code, sizeof code);
    boot::testing::ElfBuilder b;
    b.entry = kNotifyBase;
    b.load(kNotifyBase, bytes, bytes.size(), PF_R | PF_W | PF_X);
    b.xen_note(XEN_ELFNOTE_LOADER, {'g', 'e', 'n', 'e', 'r', 'i', 'c', 0});
    b.xen_u64(XEN_ELFNOTE_HYPERCALL_PAGE, kNotifyBase + 0x1000);
    return boot::ElfImage::parse(b.build(), "notify");
}

PerRound notify_ours(hv::Hypervisor& hv, const boot::ElfImage& image, uint64_t rounds) {
    auto d = hv.create_domain(params("notify", 16, kProcess));
    struct Reaper {
        hv::Hypervisor& owner;
        ::domid_t id;
        ~Reaper() { owner.destroy_domain(id); }
    } reaper{hv, d->id()};
    // The guest's port offered to domid 0, and a backend here bound to it (hv::HostChannel,
    // as the PV backends do): the guest's notify reaches the channel's eventfd.
    long port = d->evtchn().alloc_unbound(0);
    if (port <= 0) throw Error("EVTCHNOP_alloc_unbound for the backend: " + std::to_string(port));
    hv::HostChannel channel(d, static_cast<uint32_t>(port));
    Console console;
    launch::PvGuest guest = launch::setup_pv_guest(hv, *d, image, "", console.sink());
    auto* data = reinterpret_cast<uint64_t*>(d->memory().base() + kNotifyData);
    data[0] = 0;
    data[1] = rounds;
    data[2] = static_cast<uint64_t>(port);
    Responder responder(channel.fd(), rounds, &data[0]);
    uint64_t t0 = now_ns();
    d->start();
    hv::DomainState end = stop_within(*d, 60'000);
    uint64_t t1 = now_ns();
    responder.finish();
    guest.console.reset();
    if (end != hv::DomainState::Shutdown || d->shutdown_reason() != SHUTDOWN_poweroff)
        throw Error("the notify guest did not power off: " + stop_description(*d, end) + " after " +
                    std::to_string(data[0]) + " answers");
    return {ticks_to_ns(hv, data[3]) / static_cast<double>(rounds),
            static_cast<double>(t1 - t0) / static_cast<double>(rounds)};
}

json notify_round_trip(hv::Hypervisor& hv, const ProcessBenchOptions& o) {
    progress("process.notify_round_trip: rounds=" + std::to_string(o.notify_rounds) + ", " +
             std::to_string(o.notify_reps) + " reps");
    boot::ElfImage image = notify_guest_image();
    std::vector<double> ours, floor, ours_host, floor_host;
    interleave(
        1, o.notify_reps,
        [&](bool rec) {
            PerRound f = notify_floor(hv, o.notify_rounds);
            if (rec) floor.push_back(f.timed_inside_ns), floor_host.push_back(f.host_ns);
        },
        [&](bool rec) {
            PerRound r = notify_ours(hv, image, o.notify_rounds);
            if (rec) ours.push_back(r.timed_inside_ns), ours_host.push_back(r.host_ns);
        });
    json b = figure(
        "ns per round trip",
        "ours: a guest on the process platform (a few instructions, no Pumice) notifies an "
        "event-channel port bound to a backend in the benchmark's process (hv::HostChannel) "
        "with `out %eax, $XENOLITH_NOTIFY_PORT`, then spins until the backend's answer, a "
        "store of the count it has seen into guest RAM, reaches this round; `rounds` times, "
        "timed with RDTSC in the guest (pvclock-scaled). The notify is a trap: #GP, a ptrace "
        "stop, the vCPU thread's Notify exit and EVTCHNOP_send's slow path writing the "
        "channel's eventfd, PTRACE_CONT. The backend is a thread blocked in poll() on that "
        "eventfd that reads it and stores the count. floor: a forked process write()s 1 to an "
        "eventfd and spins until the same responder thread, on that eventfd, answers with the "
        "same store into a shared page; timed the same way",
        ours, floor);
    b["rounds"] = o.notify_rounds;
    b["ours_host_timed"] = summary(ours_host, false);
    b["floor_host_timed"] = summary(floor_host, false);
    b.update(ratio_block("ours.median / floor.median", median(ours) / median(floor), "<=", 2.0,
                         minimum(ours) / minimum(floor)));
    return b;
}

// ---- create to first hypercall -----------------------------------------------------------

// posix_spawn of the trap program until it has died of its first trap (SIGSEGV), in us.
double spawn_to_trap_us(const std::string& path) {
    char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
    char* envp[] = {nullptr};
    uint64_t t0 = now_ns();
    pid_t pid;
    int rc = ::posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv, envp);
    if (rc != 0) throw SystemError("posix_spawn " + path, rc);
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) throw SystemError("waitpid", errno);
    uint64_t t1 = now_ns();
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
        throw Error(path + " did not die of its trap: " + describe_status(status));
    return static_cast<double>(t1 - t0) / 1e3;
}

json create_to_first_hypercall(hv::Hypervisor& hv, const ProcessBenchOptions& o,
                               const boot::ElfImage& first) {
    progress("process.create_to_first_hypercall: " + std::to_string(o.create_reps) + " reps");
    const std::string trap = floor_program("trap");
    std::vector<CreateOurs> ours;
    std::vector<double> floor;
    interleave(
        o.create_warmups, o.create_reps,
        [&](bool rec) {
            double us = spawn_to_trap_us(trap);
            if (rec) floor.push_back(us);
        },
        [&](bool rec) {
            CreateOurs r = create_ours(hv, first, o.create_memory_mib, kProcess);
            if (rec) ours.push_back(r);
        });
    auto col = [&](double CreateOurs::*field) {
        std::vector<double> v;
        for (const auto& x : ours) v.push_back(x.*field);
        return v;
    };
    std::vector<double> total = col(&CreateOurs::total_us);
    json b = figure(
        "us",
        "ours: as the KVM figure, on the process platform: wall time on the toolstack thread "
        "from hv::Hypervisor::create_domain (" +
            std::to_string(o.create_memory_mib) +
            " MiB, 1 vCPU; the stub process is spawned and seals itself) through "
            "launch::setup_pv_guest (the `first` ELF already parsed) and Domain::start until "
            "vCPU 0's hypercall counter reads 1 (the vCPU thread has decoded the first "
            "hypercall's trap), polled by spinning from another CPU. floor: posix_spawn of "
            "bench/floors/trap.S, a static program whose first act (after one prctl that "
            "disables its core dump) is `out %eax, $0x58`, until waitpid sees it killed by "
            "that SIGSEGV",
        total, floor);
    b.update(ratio_block("ours.median / floor.median", median(total) / median(floor), "<=", 1.5,
                         minimum(total) / minimum(floor)));
    b["ours_phases_median_us"] = {
        {"create_domain", round3(median(col(&CreateOurs::create_domain_us)))},
        {"setup_pv_guest", round3(median(col(&CreateOurs::build_us)))},
        {"start_to_first_hypercall", round3(median(col(&CreateOurs::start_to_hc_us)))},
    };
    b["ours_create_to_shutdown"] = summary(col(&CreateOurs::to_shutdown_us), false);
    b["ours_destroy_domain_median_us"] = round3(median(col(&CreateOurs::destroy_us)));
    b["ours_samples_polled_late"] =
        std::count_if(ours.begin(), ours.end(), [](const CreateOurs& x) { return x.polled_late; });
    return b;
}

// ---- guest compute -----------------------------------------------------------------------

json guest_compute(hv::Hypervisor& hv, const ProcessBenchOptions& o, const boot::ElfImage& bench,
                   json& errors) {
    progress("process.guest_compute: n=" + std::to_string(o.compute_n) + ", " +
             std::to_string(o.compute_reps) + " reps");
    std::vector<double> guest_ns, native_ns;
    std::vector<uint64_t> results;
    interleave(
        1, o.compute_reps,
        [&](bool rec) {
            ComputeRun r = compute_native(hv, o.compute_n);
            if (rec) native_ns.push_back(r.ns);
            results.push_back(r.result);
        },
        [&](bool rec) {
            ComputeRun r = compute_ours(hv, bench, o.compute_n, o.guest_memory_mib, kProcess);
            if (rec) guest_ns.push_back(r.ns);
            results.push_back(r.result);
        });
    json b = figure("ns",
                    "ours: the `bench` guest (mode=compute) on the process platform runs "
                    "compute_kernel(n) natively in its stub process and prints the time its "
                    "pvclock measured. floor: the same kernel on the benchmark's thread, timed "
                    "with RDTSC and the same scale",
                    guest_ns, native_ns);
    b["n"] = o.compute_n;
    b.update(ratio_block("floor.median / ours.median (native_ns / guest_ns; 1 = native speed)",
                         median(native_ns) / median(guest_ns), ">=", 0.97,
                         minimum(native_ns) / minimum(guest_ns)));
    bool match = !results.empty() && std::all_of(results.begin(), results.end(),
                                                 [&](uint64_t r) { return r == results.front(); });
    b["results_match"] = match;
    if (!match) errors.push_back("process.guest_compute: guest and native results differ");
    return b;
}

}  // namespace

void process_benchmarks(hv::Hypervisor& hv, const ProcessBenchOptions& o, json& figures,
                        json& errors) {
    std::optional<boot::ElfImage> first, bench;
    try {
        first.emplace(load_guest(o.guest_dir, "first"));
        bench.emplace(load_guest(o.guest_dir, "bench"));
    } catch (const std::exception& e) {
        errors.push_back(std::string("process: ") + e.what());
        return;
    }
    record(
        figures, errors, "hypercall_round_trip",
        [&] { return hypercall_round_trip(hv, o, *bench); }, "process.");
    record(
        figures, errors, "notify_round_trip", [&] { return notify_round_trip(hv, o); }, "process.");
    record(
        figures, errors, "create_to_first_hypercall",
        [&] { return create_to_first_hypercall(hv, o, *first); }, "process.");
    record(
        figures, errors, "guest_compute", [&] { return guest_compute(hv, o, *bench, errors); },
        "process.");
}

}  // namespace xenolith::bench
