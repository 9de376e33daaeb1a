// xn's CPU pool and scheduler commands (xl cpupool-*, sched-credit, sched-credit2,
// sched-rtds) and sched-arinc653, ours: xl sets ARINC 653 schedules through libxc only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xenolith::xn {

struct CpupoolCreateOptions {
    std::string config_path;             // optional: name=, sched=, cpus= (xl's cpupool config)
    std::vector<std::string> overrides;  // VARIABLE=VALUE
    bool dry_run = false;                // -n
};
int cpupool_create_command(const CpupoolCreateOptions& o);
int cpupool_list_command(const std::string& pool, bool show_cpus);
// cpupool_destroy POOL, cpupool_rename POOL NAME, cpupool_cpu_add/remove POOL CPULIST,
// cpupool_migrate DOMAIN POOL: the API command name and its two words.
int cpupool_simple_command(const std::string& command, const std::string& pool, const std::string& arg);

struct SchedOptions {
    std::string scheduler;  // credit, credit2, rtds
    std::string domain;     // -d
    std::string pool;       // -p (rtds: -c)
    bool schedparam = false;  // -s
    std::optional<uint32_t> weight, cap, tslice_ms, ratelimit_us, migration_delay_us;
    std::optional<uint32_t> period, budget, extratime;  // rtds
    std::vector<uint32_t> vcpus;  // rtds -v
    bool all_vcpus = false;       // rtds -v all
};
int sched_command(const SchedOptions& o);

// Without windows: shows the pool's schedule. With them (DOMAIN:VCPU:RUNTIME_US each, in
// order): sets it; the major frame defaults to the windows' sum.
int sched_arinc653_command(const std::string& pool, std::optional<uint32_t> major_frame_us,
                           const std::vector<std::string>& windows);

}  // namespace xenolith::xn
