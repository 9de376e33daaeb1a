// What the control API says about domains, vCPUs and the host: plain structs with their
// JSON forms. The daemon fills them from its counters; `xn list`, `xn list -l`, `xn top`,
// `xn vcpu-list` and the metrics endpoint all print from these same structs, so the
// figures agree wherever they are shown.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xenolith::api {

// One domain as `xl list` sees it (libxl_dominfo), plus the counters `xn top` shows.
struct DomainInfo {
    uint32_t domid = 0;
    std::string name;
    std::string uuid;   // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
    std::string type;   // "pv", "pvh"
    std::string state;  // "building", "running", "paused", "shutdown", "crashed", "dying"
    // xl's state letters: r (a vCPU is running), b (all vCPUs blocked), p, s, c, d.
    bool running = false;
    bool blocked = false;
    bool paused = false;
    bool shutdown = false;
    std::optional<uint32_t> shutdown_reason;  // SHUTDOWN_* when shutdown
    bool dying = false;

    uint64_t memory_kib = 0;      // what the domain has now
    uint64_t max_memory_kib = 0;  // mem-max
    uint64_t target_kib = 0;      // mem-set (the balloon target in xenstore)
    uint32_t vcpus_online = 0;
    uint32_t max_vcpus = 0;
    uint64_t cpu_time_ns = 0;  // all vCPUs, time spent running guest code
    uint64_t uptime_ns = 0;    // since this incarnation was created
    std::string pool = "Pool-0";
    std::string platform;         // "kvm" or "process"
    std::string platform_reason;  // why that one: "auto: no usable /dev/kvm (...)"

    // Counters since creation.
    uint64_t exits = 0;
    uint64_t hypercalls = 0;
    uint64_t upcalls = 0;
    uint64_t event_channels = 0;  // ports in use
    uint64_t events_sent = 0;
    uint64_t grant_entries = 0;  // entries the domain has granted (in use)
    uint64_t grant_maps = 0;     // mappings of its grants held by others
    uint32_t restarts = 0;       // on_reboot/on_crash restarts of this domain
    // An outgoing migration's progress ("round 2, 45% of 1200 pages"); empty when none.
    std::string migrating;
};

// One vCPU as `xl vcpu-list` sees it (libxl_vcpuinfo).
struct VcpuInfo {
    uint32_t domid = 0;
    std::string domain_name;
    uint32_t vcpu = 0;
    bool online = false;
    bool running = false;
    bool blocked = false;
    std::optional<uint32_t> cpu;  // the host CPU it last ran on
    uint64_t time_ns = 0;
    std::string hard_affinity = "all";  // xl's CPU list spelling: "all", "0-1", "1,3"
    std::string soft_affinity = "all";
};

// `xl info`: the host and the hypervisor.
struct HostInfo {
    std::string host;
    std::string release;
    std::string version;
    std::string machine;
    uint32_t nr_cpus = 0;
    uint32_t max_cpu_id = 0;
    uint32_t nr_nodes = 1;
    uint32_t cores_per_socket = 1;
    uint32_t threads_per_core = 1;
    uint64_t cpu_khz = 0;
    std::string cpu_model;
    std::string virt_caps;  // "pv", "pv pvh"
    uint64_t total_memory_mib = 0;
    uint64_t free_memory_mib = 0;
    uint32_t xen_major = 0;
    uint32_t xen_minor = 0;
    std::string xen_extra;
    std::string xen_caps;
    std::string xen_scheduler = "credit";
    std::string xen_commandline;
    std::string kvm_flavour;      // "pvm", "vt-x", "amd-v", "none"
    std::string platform;         // where domains go by default: "kvm" or "process"
    std::string platform_reason;  // why
    std::string daemon_version;
    uint64_t daemon_uptime_ns = 0;
    uint32_t nr_domains = 0;  // guests, not counting Domain-0
};

void to_json(nlohmann::json& j, const DomainInfo& d);
void from_json(const nlohmann::json& j, DomainInfo& d);
void to_json(nlohmann::json& j, const VcpuInfo& v);
void from_json(const nlohmann::json& j, VcpuInfo& v);
void to_json(nlohmann::json& j, const HostInfo& h);
void from_json(const nlohmann::json& j, HostInfo& h);

}  // namespace xenolith::api
