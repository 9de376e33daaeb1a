// The metrics endpoint: the daemon's counters in the Prometheus text exposition format,
// version 0.0.4 (Content-Type: text/plain; version=0.0.4).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "toolstack/api/types.hpp"

namespace xenolith::format {

// Every family once, each with one # HELP and one # TYPE line followed by its samples.
// Domain series carry {domid, name}, vCPU series also {vcpu}. Counters end in _total.
std::string prometheus_text(const api::HostInfo& host, const std::vector<api::DomainInfo>& doms,
                            const std::vector<api::VcpuInfo>& vcpus);

// A label value as the format requires: backslash, double quote and newline escaped.
std::string prometheus_label_value(std::string_view value);

}  // namespace xenolith::format
