// What `xl` prints, printed from the control API's structs: `xn list`, `xn list -v`,
// `xn list -l`, `xn vcpu-list`, `xn uptime` and `xn info` keep xl's columns, widths and
// letters so that scripts written against xl keep working. All functions are pure: the
// caller fetches the structs and writes the string.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "toolstack/api/types.hpp"

namespace xenolith::format {

// `xl list` (verbose: `xl list -v`, adding UUID, reason code and security label columns).
// Rows come out in the order given; the daemon gives them by domid, Domain-0 first.
std::string list_text(const std::vector<api::DomainInfo>& doms, bool verbose);

// `xl list -l`: a JSON array, one {"domid", "config", "info"} object per domain, indented
// by 4 like xl's. `config` is the domain's effective configuration as the daemon holds it.
std::string list_long_json(const std::vector<std::pair<api::DomainInfo, nlohmann::json>>& doms);

// `xl vcpu-list`.
std::string vcpu_list_text(const std::vector<api::VcpuInfo>& vcpus);

// `xl uptime` (short_form: `xl uptime -s`, which starts each line with the wall clock
// time `now_realtime_ns`, shown in local time; the long form ignores it).
std::string uptime_text(const std::vector<api::DomainInfo>& doms, bool short_form,
                        uint64_t now_realtime_ns = 0);

// One uptime as xl spells it: "0:01:23" padded to " 0:01:23", "1 day,  2:03:04",
// "3 days, 0:00:00"; the short form drops the seconds.
std::string uptime_string(uint64_t seconds, bool short_form);

// "HH:MM:SS" of a CLOCK_REALTIME instant in local time (xl uptime -s, xn top).
std::string clock_text(uint64_t realtime_ns);

// `xl info`: "key                    : value" lines in xl's order, then Xenolith's own keys.
std::string info_text(const api::HostInfo& host);

// A set of host CPUs as xl spells a CPU bitmap of nr_cpus bits: "all", "none", "2",
// "0-3", "0,2-3". CPUs at or beyond nr_cpus are not part of the bitmap and are ignored.
std::string cpu_list_text(const std::vector<unsigned>& cpus, unsigned nr_cpus);

}  // namespace xenolith::format
