// The records of a domain's hypervisor state (state/domain_records.hpp): each round-trips,
// and each refuses a body that is short, long, or names what cannot be.
#include "state/domain_records.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "hv/grant_table.hpp"

namespace xenolith::state {
namespace {

Record as_record(RecordType type, std::vector<uint8_t> body) {
    return Record{type, std::move(body), 4096};
}

TEST(DomainRecords, AVcpuRoundTrips) {
    hv::VcpuState s;
    s.initialised = s.up = true;
    s.regs.rip = 0x101000;
    s.regs.r15 = 15;
    s.regs.rflags = 0x246;
    s.cr3 = 0x3000;
    s.ext.fs_base = 0xf5;
    s.ext.fpu = platform::FpuState::initial();
    s.ext.fpu.bytes[160] = 0x42;
    s.vcpu_info_gpa = 0x5040;
    s.timer_deadline = 123456789;
    const auto [id, back] = decode_vcpu(as_record(RecordType::Vcpu, encode_vcpu(3, s)));
    EXPECT_EQ(id, 3u);
    EXPECT_TRUE(back.initialised && back.up);
    EXPECT_EQ(back.regs.rip, 0x101000u);
    EXPECT_EQ(back.regs.r15, 15u);
    EXPECT_EQ(back.regs.rflags, 0x246u);
    EXPECT_EQ(back.cr3, 0x3000u);
    EXPECT_EQ(back.ext.fs_base, 0xf5u);
    EXPECT_EQ(back.ext.fpu.bytes, s.ext.fpu.bytes);
    EXPECT_EQ(back.vcpu_info_gpa, 0x5040u);
    EXPECT_EQ(back.runstate_gpa, hv::VcpuState::kNone);
    EXPECT_EQ(back.timer_deadline, 123456789u);
}

TEST(DomainRecords, AVcpuBodyThatDoesNotCheckOutIsRefusedWithItsOffset) {
    hv::VcpuState s;
    s.initialised = true;
    const std::vector<uint8_t> good = encode_vcpu(0, s);
    std::vector<uint8_t> bad = good;
    bad.pop_back();
    EXPECT_THROW(decode_vcpu(as_record(RecordType::Vcpu, bad)), StreamError);
    bad = good;
    bad.push_back(0);
    EXPECT_THROW(decode_vcpu(as_record(RecordType::Vcpu, bad)), StreamError);
    bad = good;
    bad[4] = 0x80;  // an unknown flag
    EXPECT_THROW(decode_vcpu(as_record(RecordType::Vcpu, bad)), StreamError);
    bad = good;
    bad[4] = 2;  // up without a context
    EXPECT_THROW(decode_vcpu(as_record(RecordType::Vcpu, bad)), StreamError);
    bad = good;
    bad[0] = 200;  // past any vCPU a stream may hold
    try {
        decode_vcpu(as_record(RecordType::Vcpu, bad));
        FAIL();
    } catch (const StreamError& e) {
        EXPECT_EQ(e.offset(), 4096u);
    }
    bad = good;
    bad[bad.size() - 832 + 512] = 0x10;  // XSTATE_BV names a component not carried
    EXPECT_THROW(decode_vcpu(as_record(RecordType::Vcpu, bad)), StreamError);
}

TEST(DomainRecords, PortsFramesInfoAndConsoleRoundTripAndCheckTheirCounts) {
    std::vector<hv::SavedPort> ports = {{.port = 1, .status = EVTCHNSTAT_unbound, .remote_dom = 0},
                                        {.port = 3, .status = EVTCHNSTAT_virq, .virq = 0}};
    const auto back =
        decode_event_channels(as_record(RecordType::EventChannels, encode_event_channels(ports)));
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[1].port, 3u);
    EXPECT_EQ(back[1].status, uint32_t{EVTCHNSTAT_virq});
    std::vector<uint8_t> body = encode_event_channels(ports);
    body[0] = 3;  // says three ports, holds two
    EXPECT_THROW(decode_event_channels(as_record(RecordType::EventChannels, body)), StreamError);

    const std::vector<xen_pfn_t> frames = {5, 6, hv::kInvalidGfn};
    EXPECT_EQ(decode_grant_frames(as_record(RecordType::GrantFrames, encode_grant_frames(frames))),
              frames);
    body = encode_grant_frames(std::vector<xen_pfn_t>(65, 1));  // past Xen's 64-frame ceiling
    EXPECT_THROW(decode_grant_frames(as_record(RecordType::GrantFrames, body)), StreamError);

    const DomainInfo info{2, 0x2000, 0x3000, 0x4000};
    const DomainInfo info_back =
        decode_domain_info(as_record(RecordType::DomainInfo, encode_domain_info(info)));
    EXPECT_EQ(info_back.vcpus, 2u);
    EXPECT_EQ(info_back.boot_tss, 0x4000u);
    body = encode_domain_info({0, 0, 0, 0});
    EXPECT_THROW(decode_domain_info(as_record(RecordType::DomainInfo, body)), StreamError);

    const ConsoleInfo c =
        decode_console(as_record(RecordType::Console, encode_console({0x6000, 1})));
    EXPECT_EQ(c.ring_gpa, 0x6000u);
    EXPECT_EQ(c.port, 1u);
    body = encode_console({0x6000, 1});
    body[12] = 1;  // reserved
    EXPECT_THROW(decode_console(as_record(RecordType::Console, body)), StreamError);
}

TEST(DomainRecords, GuestTimeRoundTripsAndIsExactlyEightBytes) {
    const std::vector<uint8_t> body = encode_guest_time(123456789012345ull);
    EXPECT_EQ(body.size(), 8u);
    EXPECT_EQ(decode_guest_time(as_record(RecordType::GuestTime, body)), 123456789012345ull);
    std::vector<uint8_t> longer = body;
    longer.push_back(0);
    EXPECT_THROW(decode_guest_time(as_record(RecordType::GuestTime, longer)), StreamError);
    EXPECT_THROW(decode_guest_time(as_record(RecordType::GuestTime, {1, 2, 3})), StreamError);
}

}  // namespace
}  // namespace xenolith::state
