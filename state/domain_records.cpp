#include "state/domain_records.hpp"

#include "hv/evtchn.hpp"
#include "hv/grant_table.hpp"
#include "state/le_bytes.hpp"

namespace xenolith::state {

namespace {

constexpr uint32_t kVcpuInitialised = 1u << 0;
constexpr uint32_t kVcpuUp = 1u << 1;
constexpr uint32_t kVcpuFlags = kVcpuInitialised | kVcpuUp;

// The general registers in the stream's order (docs/domain-stream.md).
template <class Regs, class F>
void each_register(Regs& r, F f) {
    for (auto* p : {&r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rbp, &r.rsp, &r.r8, &r.r9,
                    &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15, &r.rip, &r.rflags})
        f(*p);
}

}  // namespace

std::vector<uint8_t> encode_domain_info(const DomainInfo& info) {
    BodyWriter w;
    w.put(info.vcpus)
        .put(uint32_t{0})
        .put(info.shared_info_gpa)
        .put(info.boot_cr3)
        .put(info.boot_tss);
    return w.bytes();
}

DomainInfo decode_domain_info(const Record& r) {
    BodyReader in(r.body, r.offset, "the DOMAIN_INFO record");
    DomainInfo info;
    info.vcpus = in.take<uint32_t>();
    if (in.take<uint32_t>() != 0) in.fail("reserved bits are set");
    info.shared_info_gpa = in.take<uint64_t>();
    info.boot_cr3 = in.take<uint64_t>();
    info.boot_tss = in.take<uint64_t>();
    in.finish();
    if (info.vcpus == 0 || info.vcpus > kMaxStreamVcpus)
        in.fail(std::to_string(info.vcpus) + " vCPUs (1 to " + std::to_string(kMaxStreamVcpus) +
                " may be restored)");
    return info;
}

std::vector<uint8_t> encode_vcpu(uint32_t id, const hv::VcpuState& s) {
    BodyWriter w;
    w.put(id).put((s.initialised ? kVcpuInitialised : 0) | (s.up ? kVcpuUp : 0));
    platform::Registers regs = s.regs;
    each_register(regs, [&](uint64_t& v) { w.put(v); });
    w.put(s.cr3).put(s.ext.fs_base).put(s.ext.gs_base).put(s.event_callback);
    w.put(s.vcpu_info_gpa).put(s.runstate_gpa).put(s.timer_deadline);
    w.put_bytes(s.ext.fpu.bytes);
    return w.bytes();
}

std::pair<uint32_t, hv::VcpuState> decode_vcpu(const Record& r) {
    BodyReader in(r.body, r.offset, "a VCPU record");
    const uint32_t id = in.take<uint32_t>();
    const uint32_t flags = in.take<uint32_t>();
    if (flags & ~kVcpuFlags) in.fail("unknown flags " + std::to_string(flags));
    if (id >= kMaxStreamVcpus) in.fail("vCPU " + std::to_string(id) + " is out of range");
    hv::VcpuState s;
    s.initialised = flags & kVcpuInitialised;
    s.up = flags & kVcpuUp;
    if (s.up && !s.initialised) in.fail("a vCPU that is up without a context");
    each_register(s.regs, [&](uint64_t& v) { v = in.take<uint64_t>(); });
    s.cr3 = in.take<uint64_t>();
    s.ext.fs_base = in.take<uint64_t>();
    s.ext.gs_base = in.take<uint64_t>();
    s.event_callback = in.take<uint64_t>();
    s.vcpu_info_gpa = in.take<uint64_t>();
    s.runstate_gpa = in.take<uint64_t>();
    s.timer_deadline = in.take<uint64_t>();
    in.take_bytes(s.ext.fpu.bytes);
    in.finish();
    if (s.ext.fpu.xstate_bv() & ~platform::kMovedXfeatures)
        in.fail("FPU state names components this version does not carry");
    return {id, s};
}

std::vector<uint8_t> encode_event_channels(const std::vector<hv::SavedPort>& ports) {
    BodyWriter w;
    w.put(static_cast<uint32_t>(ports.size())).put(uint32_t{0});
    for (const hv::SavedPort& p : ports)
        w.put(p.port)
            .put(p.status)
            .put(p.vcpu)
            .put(p.virq)
            .put(uint32_t{p.remote_dom})
            .put(uint32_t{0});
    return w.bytes();
}

std::vector<hv::SavedPort> decode_event_channels(const Record& r) {
    BodyReader in(r.body, r.offset, "the EVENT_CHANNELS record");
    const uint32_t count = in.take<uint32_t>();
    if (in.take<uint32_t>() != 0) in.fail("reserved bits are set");
    constexpr size_t kPortBytes = 24;
    if (count > hv::kMaxEventChannels2L || in.left() != size_t{count} * kPortBytes)
        in.fail(std::to_string(count) + " ports in " + std::to_string(in.left()) + " bytes");
    std::vector<hv::SavedPort> ports(count);
    for (hv::SavedPort& p : ports) {
        p.port = in.take<uint32_t>();
        p.status = in.take<uint32_t>();
        p.vcpu = in.take<uint32_t>();
        p.virq = in.take<uint32_t>();
        const uint32_t remote = in.take<uint32_t>();
        if (remote >= DOMID_FIRST_RESERVED || in.take<uint32_t>() != 0)
            in.fail("port " + std::to_string(p.port) + " names no domain");
        p.remote_dom = static_cast<domid_t>(remote);
    }
    in.finish();
    return ports;
}

std::vector<uint8_t> encode_grant_frames(const std::vector<xen_pfn_t>& frames) {
    BodyWriter w;
    w.put(static_cast<uint32_t>(frames.size())).put(uint32_t{0});
    for (xen_pfn_t f : frames) w.put(uint64_t{f});
    return w.bytes();
}

std::vector<xen_pfn_t> decode_grant_frames(const Record& r) {
    BodyReader in(r.body, r.offset, "the GRANT_FRAMES record");
    const uint32_t count = in.take<uint32_t>();
    if (in.take<uint32_t>() != 0) in.fail("reserved bits are set");
    if (count > hv::kMaxGrantFramesCeiling || in.left() != size_t{count} * 8)
        in.fail(std::to_string(count) + " frames in " + std::to_string(in.left()) + " bytes");
    std::vector<xen_pfn_t> frames(count);
    for (xen_pfn_t& f : frames) f = in.take<uint64_t>();
    in.finish();
    return frames;
}

std::vector<uint8_t> encode_console(const ConsoleInfo& c) {
    BodyWriter w;
    w.put(c.ring_gpa).put(c.port).put(uint32_t{0});
    return w.bytes();
}

ConsoleInfo decode_console(const Record& r) {
    BodyReader in(r.body, r.offset, "the CONSOLE record");
    ConsoleInfo c;
    c.ring_gpa = in.take<uint64_t>();
    c.port = in.take<uint32_t>();
    if (in.take<uint32_t>() != 0) in.fail("reserved bits are set");
    in.finish();
    return c;
}

std::vector<uint8_t> encode_guest_time(uint64_t ns) {
    BodyWriter w;
    w.put(ns);
    return w.bytes();
}

uint64_t decode_guest_time(const Record& r) {
    BodyReader in(r.body, r.offset, "a GUEST_TIME record");
    const auto ns = in.take<uint64_t>();
    in.finish();
    return ns;
}

}  // namespace xenolith::state
