#include "toolstack/daemon/config_json.hpp"

namespace xenolith::daemon {

namespace {

nlohmann::json cpu_sets(const std::optional<xlcfg::CpuAffinity>& affinity, uint32_t vcpus) {
    nlohmann::json out = nlohmann::json::array();
    if (!affinity) return out;
    for (uint32_t v = 0; v < vcpus; ++v) {
        const xlcfg::CpuSet* set = affinity->for_vcpu(v);
        nlohmann::json cpus = nlohmann::json::array();
        if (set) {
            for (unsigned cpu : set->cpus()) cpus.push_back(cpu);
        }
        out.push_back({{"bitmap", cpus}});
    }
    return out;
}

nlohmann::json specs(const std::vector<xlcfg::DeviceSpec>& list) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : list) out.push_back({{"spec", d.spec}});
    return out;
}

}  // namespace

nlohmann::json libxl_style_config(const xlcfg::DomainConfig& cfg, const std::string& uuid,
                                  const std::string& kernel_path, uint64_t target_kib, uint64_t max_kib,
                                  uint32_t online_vcpus) {
    nlohmann::json avail = nlohmann::json::array();
    for (uint32_t v = 0; v < online_vcpus; ++v) avail.push_back(v);
    nlohmann::json c_info = {
        {"type", xlcfg::to_string(cfg.type)},
        {"name", cfg.name},
        {"uuid", uuid},
        {"pool_name", cfg.pool.value_or("Pool-0")},
    };
    nlohmann::json b_info = {
        {"max_vcpus", cfg.maxvcpus},
        {"avail_vcpus", avail},
        {"vcpu_hard_affinity", cpu_sets(cfg.cpus, cfg.maxvcpus)},
        {"vcpu_soft_affinity", cpu_sets(cfg.cpus_soft, cfg.maxvcpus)},
        {"max_memkb", max_kib},
        {"target_memkb", target_kib},
        {"event_channels", cfg.max_event_channels},
        {"sched_params", {{"weight", cfg.weight}, {"cap", cfg.cap}}},
        {"kernel", kernel_path},
        {"cmdline", cfg.cmdline},
        {"ramdisk", cfg.ramdisk},
    };
    return {
        {"c_info", c_info},
        {"b_info", b_info},
        {"on_poweroff", xlcfg::to_string(cfg.on_poweroff)},
        {"on_reboot", xlcfg::to_string(cfg.on_reboot)},
        {"on_crash", xlcfg::to_string(cfg.on_crash)},
        {"disks", specs(cfg.disks)},
        {"nics", specs(cfg.vifs)},
        {"vfbs", specs(cfg.vfbs)},
        {"channels", specs(cfg.channels)},
        {"p9s", specs(cfg.p9s)},
        {"pcidevs", specs(cfg.pcis)},
    };
}

}  // namespace xenolith::daemon
