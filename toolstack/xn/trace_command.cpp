// xn trace DOM --hypercalls|--syscalls [--max N]: one line per hypercall (or, in a PVH Linux
// guest, per system call) the domain makes, as it makes them, in the spirit of
// xentrace_format: seconds since the first call, the domain and vCPU, then the hypercall with
// its decoded arguments and result, or the system call's CR3, user RIP and call with its
// arguments; after one `# tracing ...` line. Runs until the domain ends, N lines were
// printed, or Ctrl-C (docs/vmi.md).
#include <signal.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>

#include "base/error.hpp"
#include "toolstack/xn/commands.hpp"
#include "toolstack/xn/daemon_client.hpp"
#include "toolstack/xn/guarded.hpp"

namespace xenolith::xn {

namespace {

std::atomic<bool> g_interrupted{false};

void on_interrupt(int) {
    g_interrupted.store(true);
}

// How long one trace_read waits: Ctrl-C is looked at in between.
constexpr int kReadMs = 200;

// `   0.001234 d1v0 cr3=0x1234000 rip=0x7f00... openat(...)` for a system call; the same
// without CR3 and RIP for a hypercall.
void print_record(const nlohmann::json& rec, uint32_t domid, double seconds) {
    std::printf("%12.6f d%uv%u ", seconds, domid, rec.at("vcpu").get<uint32_t>());
    if (rec.contains("cr3"))
        std::printf("cr3=%#" PRIx64 " rip=%#" PRIx64 " ", rec.at("cr3").get<uint64_t>(),
                    rec.at("rip").get<uint64_t>());
    std::printf("%s\n", rec.at("text").get<std::string>().c_str());
}

}  // namespace

int trace_command(const TraceOptions& o) {
    return guarded([&] {
        if (o.hypercalls == o.syscalls)
            throw Error("xn trace: say what to trace: --hypercalls or --syscalls");
        const char* kind = o.syscalls ? "syscalls" : "hypercalls";
        auto client = connect_daemon();
        nlohmann::json started = client->call("trace_start", {{"domain", o.domain}, {kind, true}});
        const uint32_t domid = started.at("domid").get<uint32_t>();
        // One comment line first: the trace is on from here.
        std::printf("# tracing domain %u's %s (Ctrl-C stops)\n", domid,
                    o.syscalls ? "system calls" : "hypercalls");
        std::fflush(stdout);
        struct sigaction sa {};
        sa.sa_handler = on_interrupt;
        ::sigaction(SIGINT, &sa, nullptr);
        ::sigaction(SIGTERM, &sa, nullptr);

        uint64_t printed = 0, dropped = 0, first_ns = 0;
        std::string failure;  // the daemon's reason when the trace could not go on
        while (!g_interrupted.load() && (o.max == 0 || printed < o.max)) {
            nlohmann::json r = client->call("trace_read", {{"timeout_ms", kReadMs}});
            dropped += r.at("dropped").get<uint64_t>();
            for (const auto& rec : r.at("records")) {
                if (rec.value("error", false)) {
                    failure = rec.at("text").get<std::string>();
                    break;
                }
                const uint64_t t = rec.at("time_ns").get<uint64_t>();
                if (!first_ns) first_ns = t;
                print_record(rec, domid, static_cast<double>(t - first_ns) / 1e9);
                if (o.max && ++printed >= o.max) break;
            }
            if (!failure.empty()) break;
            std::fflush(stdout);
            if (r.at("ended").get<bool>()) break;
        }
        if (dropped)
            std::fprintf(stderr, "xn trace: %" PRIu64 " records lost (the reader fell behind)\n",
                         dropped);
        // Let go of the domain's trace before exiting, so that a trace started right after
        // this one never finds it still held.
        client->call("trace_stop");
        if (!failure.empty()) throw Error("xn trace: " + failure);
        return 0;
    });
}

}  // namespace xenolith::xn
