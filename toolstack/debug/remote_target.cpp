#include "toolstack/debug/remote_target.hpp"

#include <algorithm>
#include <cstring>

#include "base/error.hpp"

namespace xenolith::debug {

namespace {

using vmi::gdb::ResumeAction;
using vmi::gdb::StopReason;

// How long one debug_wait lasts: the server's `interrupted` is looked at in between.
constexpr std::chrono::milliseconds kWaitSlice{100};
// One read or write request's largest transfer (the daemon takes up to 1 MiB).
constexpr size_t kChunk = 64 * 1024;

// The general registers, as named on the control API, and where gdb keeps each.
struct Field {
    const char* name;
    uint64_t vmi::gdb::Registers::*field;
};
constexpr Field kFields[] = {
    {"rax", &vmi::gdb::Registers::rax}, {"rbx", &vmi::gdb::Registers::rbx},
    {"rcx", &vmi::gdb::Registers::rcx}, {"rdx", &vmi::gdb::Registers::rdx},
    {"rsi", &vmi::gdb::Registers::rsi}, {"rdi", &vmi::gdb::Registers::rdi},
    {"rbp", &vmi::gdb::Registers::rbp}, {"rsp", &vmi::gdb::Registers::rsp},
    {"r8", &vmi::gdb::Registers::r8},   {"r9", &vmi::gdb::Registers::r9},
    {"r10", &vmi::gdb::Registers::r10}, {"r11", &vmi::gdb::Registers::r11},
    {"r12", &vmi::gdb::Registers::r12}, {"r13", &vmi::gdb::Registers::r13},
    {"r14", &vmi::gdb::Registers::r14}, {"r15", &vmi::gdb::Registers::r15},
    {"rip", &vmi::gdb::Registers::rip}, {"rflags", &vmi::gdb::Registers::eflags},
};

}  // namespace

std::optional<uint32_t> RemoteTarget::vcpu_of(uint32_t thread) const {
    if (thread == 0 || thread > vcpus_) return std::nullopt;
    return thread - 1;
}

std::vector<uint32_t> RemoteTarget::threads() {
    std::vector<uint32_t> out(vcpus_);
    for (uint32_t i = 0; i < vcpus_; ++i) out[i] = i + 1;
    return out;
}

bool RemoteTarget::read_registers(uint32_t thread, vmi::gdb::Registers& out) {
    auto vcpu = vcpu_of(thread);
    if (!vcpu) return false;
    try {
        RegisterSet regs = client_.registers(*vcpu);
        out = vmi::gdb::Registers{};
        for (const Field& f : kFields) out.*(f.field) = regs.at(f.name);
        // Segment selectors and the FS/GS bases are not on the control API yet: gdb shows 0.
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

bool RemoteTarget::write_registers(uint32_t thread, const vmi::gdb::Registers& in) {
    auto vcpu = vcpu_of(thread);
    if (!vcpu) return false;
    RegisterSet changes;
    for (const Field& f : kFields) changes[f.name] = in.*(f.field);
    try {
        client_.set_registers(*vcpu, changes);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

size_t RemoteTarget::read_memory(uint32_t thread, uint64_t addr, std::span<uint8_t> out) {
    auto vcpu = vcpu_of(thread);
    if (!vcpu) vcpu = 0;  // gdb may read before it picked a thread
    size_t done = 0;
    try {
        while (done < out.size()) {
            const size_t want = std::min(kChunk, out.size() - done);
            std::vector<uint8_t> got = client_.read(*vcpu, addr + done, want);
            std::memcpy(out.data() + done, got.data(), got.size());
            done += got.size();
            if (got.size() < want) break;
        }
    } catch (const std::exception&) {
    }
    return done;
}

size_t RemoteTarget::write_memory(uint32_t thread, uint64_t addr, std::span<const uint8_t> in) {
    auto vcpu = vcpu_of(thread);
    if (!vcpu) vcpu = 0;
    size_t done = 0;
    try {
        while (done < in.size()) {
            const size_t want = std::min(kChunk, in.size() - done);
            const size_t n = client_.write(*vcpu, addr + done, in.subspan(done, want));
            done += n;
            if (n < want) break;
        }
    } catch (const std::exception&) {
    }
    return done;
}

bool RemoteTarget::insert_sw_breakpoint(uint64_t addr) {
    try {
        // Translated through vCPU 0's page tables: a PV guest's are the same on every vCPU.
        client_.insert_breakpoint(0, addr);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

bool RemoteTarget::remove_sw_breakpoint(uint64_t addr) {
    try {
        client_.remove_breakpoint(addr);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

void RemoteTarget::resume(const std::vector<ResumeAction>& actions) {
    std::map<uint32_t, Action> per_vcpu;
    Action others = Action::Stay;  // threads no entry covers stay stopped
    for (const ResumeAction& a : actions) {
        const Action action = a.kind == ResumeAction::Kind::Step ? Action::Step : Action::Continue;
        if (a.thread == 0) {
            others = action;
        } else if (auto vcpu = vcpu_of(a.thread)) {
            per_vcpu[*vcpu] = action;
        }
    }
    client_.resume(per_vcpu, others);
}

StopReason RemoteTarget::wait(const std::function<bool()>& interrupted) {
    for (;;) {
        WaitResult r = client_.wait(kWaitSlice);
        if (r.event) {
            StopReason stop;
            stop.thread = r.event->vcpu + 1;
            stop.sw_breakpoint = r.event->reason == "breakpoint";
            return stop;
        }
        if (r.ended) {
            StopReason end;
            end.kind = *r.ended == "shutdown" ? StopReason::Kind::Exited : StopReason::Kind::Killed;
            end.exit_code = static_cast<int>(r.exit_status.value_or(0));
            return end;
        }
        if (interrupted()) {
            client_.stop();
            StopReason stop;
            stop.signal = 2;  // SIGINT, as gdb expects after Ctrl-C
            return stop;
        }
    }
}

void RemoteTarget::detach() {
    client_.detach();
}

void RemoteTarget::kill() {
    client_.connection().call("destroy", {{"domain", std::to_string(client_.domid())}});
}

}  // namespace xenolith::debug
