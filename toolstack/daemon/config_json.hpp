// A domain's effective configuration in the shape of libxl_domain_config's JSON, which is
// what `xl list -l` prints: c_info, b_info, the on_* actions and the device lists.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "toolstack/xlcfg/domain_config.hpp"

namespace xenolith::daemon {

nlohmann::json libxl_style_config(const xlcfg::DomainConfig& cfg, const std::string& uuid,
                                  const std::string& kernel_path, uint64_t target_kib, uint64_t max_kib,
                                  uint32_t online_vcpus);

}  // namespace xenolith::daemon
