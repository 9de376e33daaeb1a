#include "toolstack/api/types.hpp"

namespace xenolith::api {

namespace {

// nlohmann 3.11.2 has no std::optional support: null stands for "absent".
template <typename T>
void put(nlohmann::json& j, const char* key, const std::optional<T>& v) {
    j[key] = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
template <typename T>
void put(nlohmann::json& j, const char* key, const T& v) {
    j[key] = v;
}
// Missing keys keep their defaults, so an older peer's replies still parse.
template <typename T>
void get(const nlohmann::json& j, const char* key, std::optional<T>& v) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        v.reset();
    else
        v = it->get<T>();
}
template <typename T>
void get(const nlohmann::json& j, const char* key, T& v) {
    auto it = j.find(key);
    if (it != j.end()) v = it->get<T>();
}

// One list of fields drives both directions, so they cannot drift apart.
template <typename J, typename D, typename F>
void domain_fields(J& j, D& d, F field) {
    field(j, "domid", d.domid);
    field(j, "name", d.name);
    field(j, "uuid", d.uuid);
    field(j, "type", d.type);
    field(j, "state", d.state);
    field(j, "running", d.running);
    field(j, "blocked", d.blocked);
    field(j, "paused", d.paused);
    field(j, "shutdown", d.shutdown);
    field(j, "shutdown_reason", d.shutdown_reason);
    field(j, "dying", d.dying);
    field(j, "memory_kib", d.memory_kib);
    field(j, "max_memory_kib", d.max_memory_kib);
    field(j, "target_kib", d.target_kib);
    field(j, "vcpus_online", d.vcpus_online);
    field(j, "max_vcpus", d.max_vcpus);
    field(j, "cpu_time_ns", d.cpu_time_ns);
    field(j, "uptime_ns", d.uptime_ns);
    field(j, "pool", d.pool);
    field(j, "platform", d.platform);
    field(j, "platform_reason", d.platform_reason);
    field(j, "exits", d.exits);
    field(j, "hypercalls", d.hypercalls);
    field(j, "upcalls", d.upcalls);
    field(j, "event_channels", d.event_channels);
    field(j, "events_sent", d.events_sent);
    field(j, "grant_entries", d.grant_entries);
    field(j, "grant_maps", d.grant_maps);
    field(j, "restarts", d.restarts);
    field(j, "migrating", d.migrating);
}

template <typename J, typename V, typename F>
void vcpu_fields(J& j, V& v, F field) {
    field(j, "domid", v.domid);
    field(j, "domain_name", v.domain_name);
    field(j, "vcpu", v.vcpu);
    field(j, "online", v.online);
    field(j, "running", v.running);
    field(j, "blocked", v.blocked);
    field(j, "cpu", v.cpu);
    field(j, "time_ns", v.time_ns);
    field(j, "hard_affinity", v.hard_affinity);
    field(j, "soft_affinity", v.soft_affinity);
}

template <typename J, typename H, typename F>
void host_fields(J& j, H& h, F field) {
    field(j, "host", h.host);
    field(j, "release", h.release);
    field(j, "version", h.version);
    field(j, "machine", h.machine);
    field(j, "nr_cpus", h.nr_cpus);
    field(j, "max_cpu_id", h.max_cpu_id);
    field(j, "nr_nodes", h.nr_nodes);
    field(j, "cores_per_socket", h.cores_per_socket);
    field(j, "threads_per_core", h.threads_per_core);
    field(j, "cpu_khz", h.cpu_khz);
    field(j, "cpu_model", h.cpu_model);
    field(j, "virt_caps", h.virt_caps);
    field(j, "total_memory_mib", h.total_memory_mib);
    field(j, "free_memory_mib", h.free_memory_mib);
    field(j, "xen_major", h.xen_major);
    field(j, "xen_minor", h.xen_minor);
    field(j, "xen_extra", h.xen_extra);
    field(j, "xen_caps", h.xen_caps);
    field(j, "xen_scheduler", h.xen_scheduler);
    field(j, "xen_commandline", h.xen_commandline);
    field(j, "kvm_flavour", h.kvm_flavour);
    field(j, "platform", h.platform);
    field(j, "platform_reason", h.platform_reason);
    field(j, "daemon_version", h.daemon_version);
    field(j, "daemon_uptime_ns", h.daemon_uptime_ns);
    field(j, "nr_domains", h.nr_domains);
}

struct Put {
    template <typename T>
    void operator()(nlohmann::json& j, const char* key, const T& v) const {
        put(j, key, v);
    }
};
struct Get {
    template <typename T>
    void operator()(const nlohmann::json& j, const char* key, T& v) const {
        get(j, key, v);
    }
};

}  // namespace

void to_json(nlohmann::json& j, const DomainInfo& d) {
    j = nlohmann::json::object();
    domain_fields(j, d, Put{});
}
void from_json(const nlohmann::json& j, DomainInfo& d) {
    domain_fields(j, d, Get{});
}
void to_json(nlohmann::json& j, const VcpuInfo& v) {
    j = nlohmann::json::object();
    vcpu_fields(j, v, Put{});
}
void from_json(const nlohmann::json& j, VcpuInfo& v) {
    vcpu_fields(j, v, Get{});
}
void to_json(nlohmann::json& j, const HostInfo& h) {
    j = nlohmann::json::object();
    host_fields(j, h, Put{});
}
void from_json(const nlohmann::json& j, HostInfo& h) {
    host_fields(j, h, Get{});
}

}  // namespace xenolith::api
