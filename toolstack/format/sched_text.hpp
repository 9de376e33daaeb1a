// What xl prints for CPU pools and schedulers (`xl cpupool-list`, `xl sched-credit`,
// `xl sched-credit2`, `xl sched-rtds`), printed from the control API's replies
// (cpupool_list, sched_show; docs/control-api.md), plus `xn sched-arinc653`'s own table.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace xenolith::format {

// `xl cpupool-list` (show_cpus: `-c`, the CPU list column instead of the counts).
std::string cpupool_list_text(const nlohmann::json& pools, bool show_cpus);
// `xl sched-credit` / `sched-credit2` / `sched-rtds` listings: per pool, its parameters
// line, a header and one row per domain. `scheduler` picks the layout; `per_vcpu` is
// rtds's `-v all`.
std::string sched_show_text(const std::string& scheduler, const nlohmann::json& pools, bool per_vcpu);
// One domain's row with the header before it (xl sched-credit -d DOM).
std::string sched_domain_text(const std::string& scheduler, const nlohmann::json& domain);
// The pool's parameters line (xl sched-credit -s).
std::string sched_pool_text(const std::string& scheduler, const nlohmann::json& pool);

}  // namespace xenolith::format
