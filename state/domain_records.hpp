// The records that carry a PV domain's hypervisor state (docs/domain-stream.md): each body
// made from the hv/ structure it carries, and checked back into one. Decoding is
// hostile-input parsing: sizes and counts are checked before anything is used, and a bad
// body is one StreamError naming the record's offset. What the values mean for the domain
// (an address inside its RAM, a vCPU it has) is checked where they are applied
// (state/domain_restore.cpp and hv/).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "abi/xen.hpp"
#include "hv/evtchn.hpp"
#include "hv/vcpu_state.hpp"
#include "state/stream_reader.hpp"

namespace xenolith::state {

// DOMAIN_INFO: how many vCPUs, and where the builder put shared_info, the boot page tables
// and the I/O TSS (the restored domain has no builder).
struct DomainInfo {
    uint32_t vcpus = 0;
    uint64_t shared_info_gpa = 0;
    uint64_t boot_cr3 = 0;
    uint64_t boot_tss = 0;
};
// CONSOLE: the PV console's ring page and its port, for the restored domain's backend.
struct ConsoleInfo {
    uint64_t ring_gpa = 0;
    uint32_t port = 0;
};

// The most vCPUs a stream may describe (Xen's HVM_MAX_VCPUS), and ports (2-level ABI).
inline constexpr uint32_t kMaxStreamVcpus = 128;

std::vector<uint8_t> encode_domain_info(const DomainInfo& info);
DomainInfo decode_domain_info(const Record& r);

std::vector<uint8_t> encode_vcpu(uint32_t id, const hv::VcpuState& state);
std::pair<uint32_t, hv::VcpuState> decode_vcpu(const Record& r);

std::vector<uint8_t> encode_event_channels(const std::vector<hv::SavedPort>& ports);
std::vector<hv::SavedPort> decode_event_channels(const Record& r);

std::vector<uint8_t> encode_grant_frames(const std::vector<xen_pfn_t>& frames);
std::vector<xen_pfn_t> decode_grant_frames(const Record& r);

std::vector<uint8_t> encode_console(const ConsoleInfo& console);
ConsoleInfo decode_console(const Record& r);

// GUEST_TIME: the domain's system time (Domain::guest_time_ns) when it was saved; a
// restored domain's clock goes on from it (Domain::restore_guest_time).
std::vector<uint8_t> encode_guest_time(uint64_t ns);
uint64_t decode_guest_time(const Record& r);

}  // namespace xenolith::state
