#include "toolstack/daemon/trace_commands.hpp"

#include <chrono>

#include "base/error.hpp"
#include "hv/trace_buffer.hpp"
#include "toolstack/daemon/args.hpp"
#include "vmi/linux/syscall_tracer.hpp"

namespace xenolith::daemon {

namespace {

using api::ApiError;
using nlohmann::json;

constexpr const char* kSlot = "trace";
constexpr uint64_t kMaxWaitMs = 5000;
constexpr uint64_t kMaxRecords = 4096;

// A session's hold on one domain's trace: removed from the domain when the session lets go.
struct TraceHold {
    std::shared_ptr<hv::Domain> domain;
    std::shared_ptr<hv::TraceBuffer> trace;
    bool syscalls = false;  // a probe hook (vmi/linux/syscall_tracer.hpp), not the hypercall trace
    ~TraceHold() {
        if (!domain) return;
        if (syscalls)
            domain->set_probe_hook(nullptr);
        else
            domain->set_hypercall_trace(nullptr);
    }
};

// Sets `hold`'s trace on its domain; false when the domain already has one of that kind.
bool start(TraceHold& hold) {
    if (!hold.syscalls) return hold.domain->set_hypercall_trace(hold.trace);
    try {
        return hold.domain->set_probe_hook(
            std::make_shared<vmi::linux_guest::SyscallTracer>(hold.domain, hold.trace));
    } catch (const Error& e) {
        throw ApiError("EINVAL", e.what());
    }
}

TraceHold& hold_of(Session& s) {
    auto& slot = s.attachment(kSlot);
    if (!slot) throw ApiError("EINVAL", "this connection traces no domain (trace_start)");
    return *std::static_pointer_cast<TraceHold>(slot);
}

}  // namespace

void add_trace_handlers(std::map<std::string, Handler>& h, DomainManager& d) {
    h["trace_start"] = [&d](const json& args, Session& s) {
        if (s.attachment(kSlot)) throw ApiError("EBUSY", "this connection already traces a domain");
        const bool hypercalls = flag_arg(args, "hypercalls");
        const bool syscalls = flag_arg(args, "syscalls");
        if (hypercalls == syscalls)
            throw ApiError("EINVAL", "say what to trace: hypercalls or syscalls (one of them)");
        const uint32_t id = d.resolve(string_arg(args, "domain"));
        auto hold = std::make_shared<TraceHold>();
        hold->domain = d.domain_for_debugger(id);
        hold->trace = std::make_shared<hv::TraceBuffer>();
        hold->syscalls = syscalls;
        if (!start(*hold)) {
            hold->domain = nullptr;  // nothing to remove
            throw ApiError("EBUSY", "domain " + std::to_string(id) + " is already being traced");
        }
        s.attachment(kSlot) = hold;
        return json{{"domid", id}};
    };
    h["trace_read"] = [](const json& args, Session& s) {
        TraceHold& hold = hold_of(s);
        const uint64_t ms = number_arg(args, "timeout_ms", kMaxWaitMs);
        const uint64_t max = optional_number(args, "max", kMaxRecords).value_or(kMaxRecords);
        uint64_t dropped = 0;
        std::vector<hv::TraceRecord> records =
            hold.trace->take(std::chrono::milliseconds(ms), max, dropped);
        json out = json::array();
        for (const auto& r : records) {
            json record = {
                {"time_ns", r.time_ns}, {"vcpu", r.vcpu}, {"nr", r.nr}, {"text", r.text}};
            if (hold.syscalls) {
                record["cr3"] = r.cr3;
                record["rip"] = r.rip;
            }
            if (r.error) record["error"] = true;
            out.push_back(std::move(record));
        }
        const bool ended = records.empty() && hold.trace->closed();
        return json{{"records", out}, {"dropped", dropped}, {"ended", ended}};
    };
    h["trace_stop"] = [](const json&, Session& s) {
        hold_of(s);
        s.attachment(kSlot).reset();
        return json::object();
    };
}

}  // namespace xenolith::daemon
