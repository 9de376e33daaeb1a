#include "toolstack/daemon/debug_commands.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>

#include "base/error.hpp"
#include "hv/hypercall_names.hpp"
#include "hv/vcpu.hpp"
#include "toolstack/api/hex.hpp"
#include "toolstack/daemon/args.hpp"
#include "vmi/introspector.hpp"

namespace xenolith::daemon {

namespace {

using api::ApiError;
using nlohmann::json;

constexpr const char* kSlot = "debugger";
// A wait is a long poll: bounded, so that a client notices Ctrl-C and a stopping daemon
// ends the session soon.
constexpr uint64_t kMaxWaitMs = 5000;
constexpr uint64_t kMaxStopMs = 30000;

using api::hex_value;

// A hex string argument as a 64-bit value; EINVAL naming `what` otherwise.
uint64_t hex_arg(const json& value, const std::string& what) {
    if (!value.is_string()) throw ApiError("EINVAL", what + " must be a hex string");
    std::optional<uint64_t> v = api::parse_hex_value(value.get_ref<const std::string&>());
    if (!v) throw ApiError("EINVAL", what + " is not a 64-bit hex number");
    return *v;
}

std::vector<uint8_t> from_hex_bytes(const json& value) {
    if (!value.is_string()) throw ApiError("EINVAL", "data must be a string of hex digits");
    const std::string& s = value.get_ref<const std::string&>();
    if (s.size() / 2 > vmi::Introspector::kMaxTransfer)
        throw ApiError("EINVAL", "data may hold at most 1 MiB");
    std::optional<std::vector<uint8_t>> bytes = api::parse_hex_bytes(s);
    if (!bytes) throw ApiError("EINVAL", "data must be an even number of hex digits");
    return *bytes;
}

// The registers by name, in both directions.
struct RegisterField {
    const char* name;
    uint64_t platform::Registers::*field;
};
constexpr RegisterField kRegisters[] = {
    {"rax", &platform::Registers::rax}, {"rbx", &platform::Registers::rbx},
    {"rcx", &platform::Registers::rcx}, {"rdx", &platform::Registers::rdx},
    {"rsi", &platform::Registers::rsi}, {"rdi", &platform::Registers::rdi},
    {"rbp", &platform::Registers::rbp}, {"rsp", &platform::Registers::rsp},
    {"r8", &platform::Registers::r8},   {"r9", &platform::Registers::r9},
    {"r10", &platform::Registers::r10}, {"r11", &platform::Registers::r11},
    {"r12", &platform::Registers::r12}, {"r13", &platform::Registers::r13},
    {"r14", &platform::Registers::r14}, {"r15", &platform::Registers::r15},
    {"rip", &platform::Registers::rip}, {"rflags", &platform::Registers::rflags},
};

json registers_json(const platform::Registers& r, const platform::ControlRegisters& c) {
    json out = json::object();
    for (const auto& f : kRegisters) out[f.name] = hex_value(r.*(f.field));
    out["cr0"] = hex_value(c.cr0);
    out["cr2"] = hex_value(c.cr2);
    out["cr3"] = hex_value(c.cr3);
    out["cr4"] = hex_value(c.cr4);
    out["efer"] = hex_value(c.efer);
    return out;
}

// Only the registers named in `changes`; an unknown name is an error, before anything
// is written.
platform::Registers apply_registers(platform::Registers r, const json& changes) {
    if (!changes.is_object()) throw ApiError("EINVAL", "registers must be an object");
    for (const auto& [name, value] : changes.items()) {
        const RegisterField* f = nullptr;
        for (const auto& candidate : kRegisters)
            if (name == candidate.name) f = &candidate;
        if (!f) throw ApiError("EINVAL", "'" + name + "' is no register that can be set");
        r.*(f->field) = hex_arg(value, name);
    }
    return r;
}

const char* reason_name(vmi::Reason r) {
    switch (r) {
        case vmi::Reason::Breakpoint:
            return "breakpoint";
        case vmi::Reason::SingleStep:
            return "step";
        case vmi::Reason::Write:
            return "write";
        case vmi::Reason::Hypercall:
            return "hypercall";
        case vmi::Reason::Requested:
            break;
    }
    return "stop";
}

vmi::Action action_arg(const json& value) {
    if (value == "continue") return vmi::Action::Continue;
    if (value == "step") return vmi::Action::Step;
    if (value == "stay") return vmi::Action::Stay;
    if (value == "crash") return vmi::Action::Crash;
    throw ApiError("EINVAL", "an action is \"continue\", \"step\", \"stay\" or \"crash\"");
}

// The session's debugger; EINVAL when it has not attached.
vmi::Introspector& debugger(Session& s) {
    auto& slot = s.attachment(kSlot);
    if (!slot)
        throw ApiError("EINVAL", "this connection is not attached to a domain (debug_attach)");
    return *std::static_pointer_cast<vmi::Introspector>(slot);
}

// vmi's errors (a running vCPU, an unmapped address) are the client's: EINVAL with the
// sentence; a domain that went away meanwhile is ESRCH.
template <class F>
json guarded(vmi::Introspector& v, F f) {
    try {
        return f();
    } catch (const ApiError&) {
        throw;
    } catch (const Error& e) {
        throw ApiError(v.domain().stopping() ? "ESRCH" : "EINVAL", e.what());
    }
}

uint32_t vcpu_arg(const json& args, const vmi::Introspector& v) {
    return static_cast<uint32_t>(number_arg(args, "vcpu", v.vcpus() - 1));
}

// Page tables to translate through instead of the vCPU's own (another guest process's,
// as `xn trace --syscalls` shows them): a hex string; its low 12 bits (PCID, flags) are
// ignored. Absent: the vCPU's current CR3.
std::optional<uint64_t> cr3_arg(const json& args) {
    if (!args.contains("cr3")) return std::nullopt;
    return hex_arg(args["cr3"], "cr3") & ~uint64_t{0xfff};
}

// debug_protect / debug_unprotect: {address, length, physical | vcpu}.
json watch_writes(const json& args, Session& s, bool on) {
    vmi::Introspector& v = debugger(s);
    if (!args.contains("address")) throw ApiError("EINVAL", "missing argument 'address'");
    const uint64_t address = hex_arg(args["address"], "address");
    const uint64_t limit = vmi::Introspector::kMaxWatchedPages * 4096;
    const uint64_t length = optional_number(args, "length", limit).value_or(1);
    if (length == 0) throw ApiError("EINVAL", "length must be at least 1");
    return guarded(v, [&] {
        size_t pages = flag_arg(args, "physical")
                           ? v.watch_writes_physical(address, length, on)
                           : v.watch_writes_virtual(vcpu_arg(args, v), address, length, on);
        return json{{"pages", pages}};
    });
}

}  // namespace

void add_debug_handlers(std::map<std::string, Handler>& h, DomainManager& d) {
    h["debug_attach"] = [&d](const json& args, Session& s) {
        if (s.attachment(kSlot)) throw ApiError("EBUSY", "this connection already debugs a domain");
        const uint32_t id = d.resolve(string_arg(args, "domain"));
        std::shared_ptr<hv::Domain> domain = d.domain_for_debugger(id);
        try {
            s.attachment(kSlot) = std::make_shared<vmi::Introspector>(domain);
        } catch (const Error& e) {
            throw ApiError("EBUSY", e.what());
        }
        // What this host's platform cannot do for the debugger, each with its reason, so
        // that a client can say so before it tries (platform::DebugSupport).
        json unavailable = json::object();
        const platform::DebugSupport can = domain->vcpu(0).debug_support();
        if (!can.breakpoints.empty()) unavailable["breakpoints"] = can.breakpoints;
        if (!can.single_step.empty()) unavailable["single_step"] = can.single_step;
        return json{{"domid", id}, {"vcpus", domain->nr_vcpus()}, {"unavailable", unavailable}};
    };
    h["debug_detach"] = [](const json&, Session& s) {
        debugger(s);  // EINVAL when not attached
        s.attachment(kSlot).reset();
        return json::object();
    };
    h["debug_stop"] = [](const json& args, Session& s) {
        vmi::Introspector& v = debugger(s);
        const uint64_t ms = optional_number(args, "timeout_ms", kMaxStopMs).value_or(5000);
        return guarded(v, [&] {
            v.stop_all(std::chrono::milliseconds(ms));
            return json::object();
        });
    };
    h["debug_resume"] = [](const json& args, Session& s) {
        vmi::Introspector& v = debugger(s);
        std::map<uint32_t, vmi::Action> actions;
        if (args.contains("vcpus")) {
            if (!args["vcpus"].is_object()) throw ApiError("EINVAL", "vcpus must be an object");
            for (const auto& [key, value] : args["vcpus"].items()) {
                uint32_t vcpu = 0;
                auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), vcpu);
                if (ec != std::errc() || end != key.data() + key.size() || vcpu >= v.vcpus())
                    throw ApiError("EINVAL", "'" + key + "' is not a vCPU of the domain");
                actions[vcpu] = action_arg(value);
            }
        }
        const vmi::Action others =
            args.contains("others") ? action_arg(args["others"]) : vmi::Action::Continue;
        return guarded(v, [&] {
            v.resume(actions, others);
            return json::object();
        });
    };
    h["debug_wait"] = [](const json& args, Session& s) {
        vmi::Introspector& v = debugger(s);
        const uint64_t ms = number_arg(args, "timeout_ms", kMaxWaitMs);
        // The domain ended (shut down, crashed, destroyed): no event will come, and the
        // client learns how it ended.
        auto ended = [&v] {
            hv::Domain& dom = v.domain();
            json out = {{"event", nullptr}, {"ended", hv::state_name(dom.state())}};
            if (auto status = dom.exit_status()) out["exit_status"] = *status;
            return out;
        };
        if (v.domain().stopping()) return ended();
        return guarded(v, [&] {
            std::optional<vmi::StopEvent> e;
            try {
                e = v.wait(std::chrono::milliseconds(ms));
            } catch (const Error&) {
                if (v.domain().stopping()) return ended();
                throw;
            }
            if (!e) return json{{"event", nullptr}};
            json event = {
                {"vcpu", e->vcpu}, {"reason", reason_name(e->reason)}, {"rip", hex_value(e->rip)}};
            if (e->reason == vmi::Reason::Write) event["address"] = hex_value(e->address);
            if (e->reason == vmi::Reason::Hypercall)
                event["hypercall"] = {{"nr", e->hypercall},
                                      {"name", hv::hypercall_name(e->hypercall)}};
            return json{{"event", event}};
        });
    };
    h["debug_events"] = [](const json& args, Session& s) {
        vmi::Introspector& v = debugger(s);
        if (!args.contains("hypercalls"))
            throw ApiError("EINVAL", "say which events: hypercalls (true or false)");
        const bool on = flag_arg(args, "hypercalls");
        return guarded(v, [&] {
            v.set_hypercall_stops(on);
            return json::object();
        });
    };
    h["debug_registers"] = [](const json& args, Session& s) {
        vmi::Introspector& v = debugger(s);
        const uint32_t vcpu = vcpu_arg(args, v);
        return guarded(v, [&] {
            return json{
                {"registers", registers_json(v.registers(vcpu), v.control_registers(vcpu))}};
        });
    };
    h["debug_set_registers"] = [](const json& args, Session& s) {
        vmi::Introspector& v = debugger(s);
        const uint32_t vcpu = vcpu_arg(args, v);
        if (!args.contains("registers")) throw ApiError("EINVAL", "missing argument 'registers'");
        return guarded(v, [&] {
            v.set_registers(vcpu, apply_registers(v.registers(vcpu), args["registers"]));
            return json::object();
        });
    };
    h["debug_read"] = [](const json& args, Session& s) {
        vmi::Introspector& v = debugger(s);
        if (!args.contains("address")) throw ApiError("EINVAL", "missing argument 'address'");
        const uint64_t address = hex_arg(args["address"], "address");
        const size_t length =
            static_cast<size_t>(number_arg(args, "length", vmi::Introspector::kMaxTransfer));
        return guarded(v, [&] {
            std::vector<uint8_t> bytes =
                flag_arg(args, "physical")
                    ? v.read_physical(address, length)
                    : v.read_virtual(vcpu_arg(args, v), address, length, cr3_arg(args));
            return json{{"data", api::hex_bytes(bytes)}};
        });
    };
    h["debug_write"] = [](const json& args, Session& s) {
        vmi::Introspector& v = debugger(s);
        if (!args.contains("address") || !args.contains("data"))
            throw ApiError("EINVAL", "debug_write needs 'address' and 'data'");
        const uint64_t address = hex_arg(args["address"], "address");
        std::vector<uint8_t> bytes = from_hex_bytes(args["data"]);
        return guarded(v, [&] {
            size_t n = flag_arg(args, "physical")
                           ? v.write_physical(address, bytes)
                           : v.write_virtual(vcpu_arg(args, v), address, bytes, cr3_arg(args));
            return json{{"written", n}};
        });
    };
    h["debug_protect"] = [](const json& args, Session& s) { return watch_writes(args, s, true); };
    h["debug_unprotect"] = [](const json& args, Session& s) {
        return watch_writes(args, s, false);
    };
    h["debug_breakpoint"] = [](const json& args, Session& s) {
        vmi::Introspector& v = debugger(s);
        if (!args.contains("address")) throw ApiError("EINVAL", "missing argument 'address'");
        const uint64_t address = hex_arg(args["address"], "address");
        const std::string action = string_arg(args, "action");
        if (action != "insert" && action != "remove")
            throw ApiError("EINVAL", "action is \"insert\" or \"remove\"");
        return guarded(v, [&] {
            if (action == "insert")
                v.insert_breakpoint(vcpu_arg(args, v), address);
            else
                v.remove_breakpoint(address);
            return json{{"breakpoints", v.breakpoint_count()}};
        });
    };
}

}  // namespace xenolith::daemon
