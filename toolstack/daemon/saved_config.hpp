// The toolstack's part of a saved domain, the stream's XL_CONFIG record (as xl's save file
// carries "xl domain config in JSON format"): the config the domain was created from, as
// text with the creator's overrides, and what has changed since (name, memory target,
// online vCPUs, its devices). A restore parses the config again, so every check of `xn create`
// applies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xenolith::daemon {

struct SavedConfig {
    std::string config_name;
    std::string config_text;
    std::vector<std::string> overrides;
    std::string cwd;
    std::string kernel_path;
    std::string ramdisk_path;
    uint32_t domid = 0;  // where it was saved: a restore takes it again when it is free
    std::string name;    // now, after any rename
    std::string uuid;
    uint64_t target_kib = 0;
    uint64_t max_kib = 0;
    uint32_t online_vcpus = 0;
    uint32_t restarts = 0;
    // The disks and network interfaces it has now (hot-plugged ones too), as xl specs
    // (xlcfg::disk_spec_text, vif_spec_text), disk targets absolute.
    std::vector<std::string> disks;
    std::vector<std::string> vifs;
};

std::string saved_config_json(const SavedConfig& c);
// Throws Error naming the first field that is missing or of the wrong kind.
SavedConfig parse_saved_config(std::string_view json_text);

}  // namespace xenolith::daemon
