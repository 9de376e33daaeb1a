#include "bench/vmi_bench.hpp"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <thread>

#include "base/error.hpp"
#include "bench/guests.hpp"
#include "hv/trace_buffer.hpp"
#include "toolstack/launch/pv_guest.hpp"
#include "vmi/introspector.hpp"

namespace xenolith::bench {

namespace {

constexpr auto kProcess = platform::Accel::Process;
using namespace std::chrono_literals;

// ---- breakpoint round trip ---------------------------------------------------------------

// ns per hit: the debugee stopped at a breakpoint in debugee_tick; each resume runs the
// int3 again (it stays planted, RIP at it), and wait() returns the stop.
double breakpoint_ours(hv::Hypervisor& hv, const boot::ElfImage& debugee, uint64_t hits,
                       uint64_t memory_mib) {
    const auto tick = debugee.lookup("debugee_tick");
    if (!tick) throw Error("the debugee guest has no symbol debugee_tick");
    auto d = hv.create_domain(params("vmi", memory_mib, kProcess));
    DomainReaper reaper{hv, d->id()};
    Console console;
    launch::PvGuest guest = launch::setup_pv_guest(hv, *d, debugee, "period_ms=1", console.sink());
    d->start();
    vmi::Introspector vmi(d);
    vmi.stop_all(5s);
    vmi.insert_breakpoint(0, tick->address);
    auto hit = [&] {
        vmi.resume({}, vmi::Action::Continue);
        std::optional<vmi::StopEvent> e = vmi.wait(5s);
        if (!e || e->reason != vmi::Reason::Breakpoint || e->rip != tick->address)
            throw Error("the debugee did not stop at its breakpoint; console: " + console.get());
    };
    hit();  // the first arrives after some guest work; the rest do not
    const uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < hits; ++i) hit();
    return static_cast<double>(now_ns() - t0) / static_cast<double>(hits);
}

// The same round trip with nothing but ptrace: a child looping on int3.
double breakpoint_floor(uint64_t hits) {
    pid_t child = ::fork();
    if (child < 0) throw SystemError("fork", errno);
    if (child == 0) {
        ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
        ::raise(SIGSTOP);
        for (;;) asm volatile("int3");
    }
    struct Reaper {
        pid_t pid;
        ~Reaper() {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    } reaper{child};
    int status = 0;
    if (::waitpid(child, &status, 0) != child || !WIFSTOPPED(status))
        throw Error("breakpoint floor: the child did not stop");
    auto round = [&] {
        if (::ptrace(PTRACE_CONT, child, nullptr, nullptr) < 0)
            throw SystemError("PTRACE_CONT", errno);
        if (::waitpid(child, &status, 0) != child || !WIFSTOPPED(status) ||
            WSTOPSIG(status) != SIGTRAP)
            throw Error("breakpoint floor: the child did not trap");
        user_regs_struct regs;
        if (::ptrace(PTRACE_GETREGS, child, nullptr, &regs) < 0)
            throw SystemError("PTRACE_GETREGS", errno);
        regs.rip -= 1;  // back to the int3, as the debugger's breakpoint is reported
        if (::ptrace(PTRACE_SETREGS, child, nullptr, &regs) < 0)
            throw SystemError("PTRACE_SETREGS", errno);
    };
    round();
    const uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < hits; ++i) round();
    return static_cast<double>(now_ns() - t0) / static_cast<double>(hits);
}

json breakpoint_round_trip(hv::Hypervisor& hv, const VmiBenchOptions& o,
                           const boot::ElfImage& debugee) {
    progress("vmi.breakpoint_round_trip: " + std::to_string(o.breakpoint_hits) + " hits, " +
             std::to_string(o.breakpoint_reps) + " reps");
    std::vector<double> ours, floor;
    interleave(
        1, o.breakpoint_reps,
        [&](bool rec) {
            double ns = breakpoint_floor(o.breakpoint_hits);
            if (rec) floor.push_back(ns);
        },
        [&](bool rec) {
            double ns = breakpoint_ours(hv, debugee, o.breakpoint_hits, o.guest_memory_mib);
            if (rec) ours.push_back(ns);
        });
    json b = figure(
        "ns per hit",
        "ours: the `debugee` guest on the process platform stopped at a software breakpoint "
        "(vmi::Introspector, in process); each resume runs the planted int3 again: SIGTRAP in "
        "the stub thread, the vCPU thread's ptrace stop, the hook's verdict, RIP back to the "
        "breakpoint, the vCPU parked, and the client's wait() woken. floor: a forked child "
        "looping on int3 under PTRACE_TRACEME; its tracer does waitpid, PTRACE_GETREGS, "
        "RIP -= 1, PTRACE_SETREGS, PTRACE_CONT per hit",
        ours, floor);
    b["hits"] = o.breakpoint_hits;
    b.update(ratio_block_untargeted("ours.median / floor.median", median(ours) / median(floor),
                                    minimum(ours) / minimum(floor)));
    return b;
}

// ---- the hypercall rate with the trace on -------------------------------------------------

// The `bench` guest's ns per hypercall, its domain traced and the trace drained meanwhile.
double hypercall_traced(hv::Hypervisor& hv, const boot::ElfImage& bench, uint64_t n,
                        uint64_t memory_mib, uint64_t& records) {
    auto trace = std::make_shared<hv::TraceBuffer>();
    std::atomic<bool> done{false};
    records = 0;
    std::thread reader([&] {
        while (!done.load()) {
            uint64_t dropped = 0;
            records += trace->take(100ms, 4096, dropped).size();
        }
        uint64_t dropped = 0;
        records += trace->take(0ms, SIZE_MAX, dropped).size();
    });
    std::string out;
    try {
        out = run_guest(hv, bench, "mode=hypercall n=" + std::to_string(n), memory_mib, kProcess,
                        nullptr, [&](hv::Domain& d) { d.set_hypercall_trace(trace); });
    } catch (...) {
        done = true;
        reader.join();
        throw;
    }
    done = true;
    reader.join();
    std::string line = line_with(out, "bench: hypercall");
    unsigned long long got_n = 0, ns = 0;
    if (std::sscanf(line.c_str(), "bench: hypercall n=%llu ns_per_call=%llu", &got_n, &ns) != 2 ||
        got_n != n)
        throw Error("cannot parse the bench guest's line: " + line);
    return static_cast<double>(ns);
}

json hypercall_rate_traced(hv::Hypervisor& hv, const VmiBenchOptions& o,
                           const boot::ElfImage& bench) {
    progress("vmi.hypercall_rate_traced: n=" + std::to_string(o.hypercall_n) + ", " +
             std::to_string(o.hypercall_reps) + " reps");
    std::vector<double> ours, floor;
    uint64_t records = 0;
    interleave(
        1, o.hypercall_reps,
        [&](bool rec) {
            double ns = hypercall_ours(hv, bench, o.hypercall_n, o.guest_memory_mib, kProcess);
            if (rec) floor.push_back(ns);
        },
        [&](bool rec) {
            double ns = hypercall_traced(hv, bench, o.hypercall_n, o.guest_memory_mib, records);
            if (rec) ours.push_back(ns);
        });
    if (records < o.hypercall_n)
        throw Error("the trace held " + std::to_string(records) + " records for " +
                    std::to_string(o.hypercall_n) + " hypercalls");
    json b = figure("ns per call",
                    "ours: the `bench` guest (mode=hypercall, n xen_version calls) on the "
                    "process platform with its domain's hypercall trace on: each call is "
                    "described (hv/hypercall_names.hpp) and queued on the vCPU thread while a "
                    "reader thread drains the trace. floor: the same guest untraced",
                    ours, floor);
    b["n"] = o.hypercall_n;
    b["records_last_run"] = records;
    b.update(ratio_block_untargeted("ours.median / floor.median", median(ours) / median(floor),
                                    minimum(ours) / minimum(floor)));
    return b;
}

}  // namespace

json vmi_config(const VmiBenchOptions& o) {
    return {{"breakpoint_hits", o.breakpoint_hits},
            {"breakpoint_reps", o.breakpoint_reps},
            {"hypercall_n", o.hypercall_n},
            {"hypercall_reps", o.hypercall_reps}};
}

void vmi_benchmarks(hv::Hypervisor& hv, const VmiBenchOptions& o, json& figures, json& errors) {
    std::optional<boot::ElfImage> debugee, bench;
    try {
        debugee.emplace(load_guest(o.guest_dir, "debugee"));
        bench.emplace(load_guest(o.guest_dir, "bench"));
    } catch (const std::exception& e) {
        figures["all"] = not_measured(e.what());
        errors.push_back(std::string("vmi: ") + e.what());
        return;
    }
    record(
        figures, errors, "breakpoint_round_trip",
        [&] { return breakpoint_round_trip(hv, o, *debugee); }, "vmi.");
    record(
        figures, errors, "hypercall_rate_traced",
        [&] { return hypercall_rate_traced(hv, o, *bench); }, "vmi.");
}

}  // namespace xenolith::bench
