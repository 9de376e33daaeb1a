// xn trace DOM --hypercalls [--max N]: one line per hypercall the domain makes, as it makes
// them, in the spirit of xentrace_format: seconds since the first call, the domain and vCPU,
// the call with its decoded arguments and its result, after one `# tracing ...` line. Runs until
// the domain ends, N lines were printed, or Ctrl-C (docs/vmi.md).
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

}  // namespace

int trace_command(const TraceOptions& o) {
    return guarded([&] {
        if (!o.hypercalls) throw Error("xn trace: say what to trace: --hypercalls");
        auto client = connect_daemon();
        nlohmann::json started =
            client->call("trace_start", {{"domain", o.domain}, {"hypercalls", true}});
        const uint32_t domid = started.at("domid").get<uint32_t>();
        // One comment line first: the trace is on from here.
        std::printf("# tracing domain %u's hypercalls (Ctrl-C stops)\n", domid);
        std::fflush(stdout);
        struct sigaction sa {};
        sa.sa_handler = on_interrupt;
        ::sigaction(SIGINT, &sa, nullptr);
        ::sigaction(SIGTERM, &sa, nullptr);

        uint64_t printed = 0, dropped = 0, first_ns = 0;
        while (!g_interrupted.load() && (o.max == 0 || printed < o.max)) {
            nlohmann::json r = client->call("trace_read", {{"timeout_ms", kReadMs}});
            dropped += r.at("dropped").get<uint64_t>();
            for (const auto& rec : r.at("records")) {
                const uint64_t t = rec.at("time_ns").get<uint64_t>();
                if (!first_ns) first_ns = t;
                std::printf("%12.6f d%uv%u %s\n", static_cast<double>(t - first_ns) / 1e9, domid,
                            rec.at("vcpu").get<uint32_t>(),
                            rec.at("text").get<std::string>().c_str());
                if (o.max && ++printed >= o.max) break;
            }
            std::fflush(stdout);
            if (r.at("ended").get<bool>()) break;
        }
        if (dropped)
            std::fprintf(stderr, "xn trace: %" PRIu64 " records lost (the reader fell behind)\n",
                         dropped);
        // Let go of the domain's trace before exiting, so that a trace started right after
        // this one never finds it still held.
        client->call("trace_stop");
        return 0;
    });
}

}  // namespace xenolith::xn
