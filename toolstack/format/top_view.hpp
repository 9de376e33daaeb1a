// `xn top`: xentop's batch view computed from two samples of the daemon's counters. The
// summary and the first nine columns are xentop's; Xenolith's hypervisor counters replace
// xentop's network and block columns (Xenolith has no netback or blkback yet).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "toolstack/api/types.hpp"

namespace xenolith::format {

struct TopSample {
    uint64_t taken_ns = 0;  // CLOCK_REALTIME when the daemon answered
    std::vector<api::DomainInfo> domains;
    api::HostInfo host;
};

// The view of `current`, with rates (CPU(%), EXITS/s, HCALLS/s, EVENTS/s) over the time
// since `previous`. A domain absent from `previous`, or restarted since (its uptime went
// down), shows rates of 0, as xentop's first screen does. CPU(%) is the domain's CPU time
// over wall time, so a domain with several busy vCPUs shows more than 100. Rows are by
// domid. Names are cut to 10 characters as xentop does unless full_names (xentop -f).
std::string top_text(const TopSample& previous, const TopSample& current, bool full_names = false);

}  // namespace xenolith::format
