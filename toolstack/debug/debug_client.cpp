#include "toolstack/debug/debug_client.hpp"

#include <cstdio>

#include "base/error.hpp"
#include "toolstack/api/hex.hpp"

namespace xenolith::debug {

namespace {

using nlohmann::json;

using api::hex_value;

// The daemon's "0x..." strings; anything else is a broken daemon.
uint64_t from_hex(const json& value) {
    const std::string& s = value.get_ref<const std::string&>();
    std::optional<uint64_t> v = api::parse_hex_value(s);
    if (!v) throw Error("the daemon sent '" + s + "' for a hex number");
    return *v;
}

std::vector<uint8_t> from_hex_bytes(const std::string& s) {
    std::optional<std::vector<uint8_t>> bytes = api::parse_hex_bytes(s);
    if (!bytes) throw Error("the daemon sent bytes that are not hex");
    return *bytes;
}

const char* action_name(Action a) {
    switch (a) {
        case Action::Continue:
            return "continue";
        case Action::Step:
            return "step";
        case Action::Crash:
            return "crash";
        case Action::Stay:
            break;
    }
    return "stay";
}

}  // namespace

DebugClient::DebugClient(std::unique_ptr<api::Client> connection)
    : client_(std::move(connection)) {}

uint32_t DebugClient::attach(const std::string& domain) {
    json r = client_->call("debug_attach", {{"domain", domain}});
    domid_ = r.at("domid").get<uint32_t>();
    unavailable_.clear();
    if (auto it = r.find("unavailable"); it != r.end() && it->is_object())
        for (const auto& [what, why] : it->items())
            if (why.is_string()) unavailable_[what] = why.get<std::string>();
    return r.at("vcpus").get<uint32_t>();
}

void DebugClient::detach() {
    client_->call("debug_detach");
}

void DebugClient::stop(std::chrono::milliseconds timeout) {
    client_->call("debug_stop", {{"timeout_ms", timeout.count()}});
}

void DebugClient::resume(const std::map<uint32_t, Action>& actions, Action others) {
    json vcpus = json::object();
    for (const auto& [vcpu, action] : actions) vcpus[std::to_string(vcpu)] = action_name(action);
    client_->call("debug_resume", {{"vcpus", vcpus}, {"others", action_name(others)}});
}

WaitResult DebugClient::wait(std::chrono::milliseconds timeout) {
    json r = client_->call("debug_wait", {{"timeout_ms", timeout.count()}});
    WaitResult out;
    if (r.contains("ended")) out.ended = r["ended"].get<std::string>();
    if (r.contains("exit_status")) out.exit_status = r["exit_status"].get<uint32_t>();
    const json& e = r.at("event");
    if (!e.is_null()) {
        out.event =
            StopEvent{e.at("vcpu").get<uint32_t>(), e.at("reason").get<std::string>(),
                      from_hex(e.at("rip")), e.contains("address") ? from_hex(e["address"]) : 0};
        if (e.contains("hypercall")) {
            out.event->hypercall = e["hypercall"].at("nr").get<uint64_t>();
            out.event->hypercall_name = e["hypercall"].at("name").get<std::string>();
        }
    }
    return out;
}

RegisterSet DebugClient::registers(uint32_t vcpu) {
    json r = client_->call("debug_registers", {{"vcpu", vcpu}});
    RegisterSet out;
    for (const auto& [name, value] : r.at("registers").items()) out[name] = from_hex(value);
    return out;
}

void DebugClient::set_registers(uint32_t vcpu, const RegisterSet& changes) {
    json regs = json::object();
    for (const auto& [name, value] : changes) regs[name] = hex_value(value);
    client_->call("debug_set_registers", {{"vcpu", vcpu}, {"registers", regs}});
}

std::vector<uint8_t> DebugClient::read(uint32_t vcpu, uint64_t address, size_t length,
                                       bool physical) {
    json r = client_->call("debug_read", {{"vcpu", vcpu},
                                          {"address", hex_value(address)},
                                          {"length", length},
                                          {"physical", physical}});
    return from_hex_bytes(r.at("data").get<std::string>());
}

size_t DebugClient::write(uint32_t vcpu, uint64_t address, std::span<const uint8_t> bytes,
                          bool physical) {
    json r = client_->call("debug_write", {{"vcpu", vcpu},
                                           {"address", hex_value(address)},
                                           {"data", api::hex_bytes(bytes)},
                                           {"physical", physical}});
    return r.at("written").get<size_t>();
}

void DebugClient::insert_breakpoint(uint32_t vcpu, uint64_t address) {
    client_->call("debug_breakpoint",
                  {{"vcpu", vcpu}, {"address", hex_value(address)}, {"action", "insert"}});
}

void DebugClient::remove_breakpoint(uint64_t address) {
    client_->call("debug_breakpoint", {{"address", hex_value(address)}, {"action", "remove"}});
}

void DebugClient::hypercall_stops(bool on) {
    client_->call("debug_events", {{"hypercalls", on}});
}

size_t DebugClient::protect(uint32_t vcpu, uint64_t address, uint64_t length, bool physical) {
    return watch("debug_protect", vcpu, address, length, physical);
}

size_t DebugClient::unprotect(uint32_t vcpu, uint64_t address, uint64_t length, bool physical) {
    return watch("debug_unprotect", vcpu, address, length, physical);
}

size_t DebugClient::watch(const char* command, uint32_t vcpu, uint64_t address, uint64_t length,
                          bool physical) {
    json r = client_->call(command, {{"vcpu", vcpu},
                                     {"address", hex_value(address)},
                                     {"length", length},
                                     {"physical", physical}});
    return r.at("pages").get<size_t>();
}

}  // namespace xenolith::debug
