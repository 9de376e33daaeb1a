#include "toolstack/format/metrics_text.hpp"

#include <cstdint>
#include <limits>
#include <string>

namespace xenolith::format {

namespace {

// Nanoseconds as exact decimal seconds ("12.5", "3", "0.000000001"): a double would
// round large CPU times, and Prometheus parses any decimal.
std::string seconds(uint64_t ns) {
    std::string out = std::to_string(ns / 1'000'000'000);
    uint64_t frac = ns % 1'000'000'000;
    if (frac == 0) return out;
    std::string digits = std::to_string(frac);
    digits.insert(0, 9 - digits.size(), '0');
    digits.erase(digits.find_last_not_of('0') + 1);
    return out + "." + digits;
}

// KiB as bytes. A limit of all ones is xentop's "no limit", which Prometheus spells +Inf;
// so is anything too large to count in bytes.
std::string bytes_from_kib(uint64_t kib) {
    if (kib > std::numeric_limits<uint64_t>::max() >> 10) return "+Inf";
    return std::to_string(kib << 10);
}

class Exposition {
  public:
    void family(const char* name, const char* type, const char* help) {
        name_ = name;
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;  // our own texts: no backslash or newline to escape
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    // One sample of the current family; labels is already "{...}" or empty.
    void sample(const std::string& labels, const std::string& value) {
        out_ += name_;
        out_ += labels;
        out_ += ' ';
        out_ += value;
        out_ += '\n';
    }
    std::string take() { return std::move(out_); }

  private:
    std::string out_;
    std::string name_;
};

std::string domain_labels(uint32_t domid, const std::string& name, const std::string& extra = "") {
    return "{domid=\"" + std::to_string(domid) + "\",name=\"" + prometheus_label_value(name) +
           "\"" + extra + "}";
}

std::string domain_labels(const api::DomainInfo& d) {
    return domain_labels(d.domid, d.name);
}

}  // namespace

std::string prometheus_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string prometheus_text(const api::HostInfo& host, const std::vector<api::DomainInfo>& doms,
                            const std::vector<api::VcpuInfo>& vcpus) {
    Exposition e;
    using std::to_string;

    e.family("xenolith_host_cpus", "gauge", "Host CPUs the hypervisor can run vCPUs on.");
    e.sample("", to_string(host.nr_cpus));
    e.family("xenolith_host_memory_total_bytes", "gauge", "Host memory.");
    e.sample("", bytes_from_kib(host.total_memory_mib * 1024));
    e.family("xenolith_host_memory_free_bytes", "gauge", "Host memory not yet given to a domain.");
    e.sample("", bytes_from_kib(host.free_memory_mib * 1024));
    e.family("xenolith_domains", "gauge", "Domains, Domain-0 included.");
    e.sample("", to_string(doms.size()));
    e.family("xenolith_daemon_uptime_seconds", "gauge", "Time since xenolithd started.");
    e.sample("", seconds(host.daemon_uptime_ns));

    e.family("xenolith_domain_state", "gauge",
             "The domain's state (building, running, paused, shutdown, crashed, dying).");
    for (const auto& d : doms)
        e.sample(
            domain_labels(d.domid, d.name, ",state=\"" + prometheus_label_value(d.state) + "\""),
            "1");

    // One family per counter or gauge of every domain.
    struct DomainFamily {
        const char* name;
        const char* type;
        const char* help;
        std::string (*value)(const api::DomainInfo&);
    };
    static const DomainFamily kDomainFamilies[] = {
        {"xenolith_domain_cpu_seconds_total", "counter", "CPU time of all the domain's vCPUs.",
         [](const api::DomainInfo& d) { return seconds(d.cpu_time_ns); }},
        {"xenolith_domain_memory_bytes", "gauge", "Memory the domain has.",
         [](const api::DomainInfo& d) { return bytes_from_kib(d.memory_kib); }},
        {"xenolith_domain_max_memory_bytes", "gauge", "The domain's memory limit.",
         [](const api::DomainInfo& d) { return bytes_from_kib(d.max_memory_kib); }},
        {"xenolith_domain_vcpus_online", "gauge", "The domain's online vCPUs.",
         [](const api::DomainInfo& d) { return to_string(d.vcpus_online); }},
        {"xenolith_domain_exits_total", "counter", "KVM exits of the domain's vCPUs.",
         [](const api::DomainInfo& d) { return to_string(d.exits); }},
        {"xenolith_domain_hypercalls_total", "counter", "Hypercalls the domain made.",
         [](const api::DomainInfo& d) { return to_string(d.hypercalls); }},
        {"xenolith_domain_upcalls_total", "counter", "Event upcalls delivered to the domain.",
         [](const api::DomainInfo& d) { return to_string(d.upcalls); }},
        {"xenolith_domain_event_channels", "gauge", "Event channel ports the domain has in use.",
         [](const api::DomainInfo& d) { return to_string(d.event_channels); }},
        {"xenolith_domain_events_sent_total", "counter", "Events the domain sent.",
         [](const api::DomainInfo& d) { return to_string(d.events_sent); }},
        {"xenolith_domain_grant_entries", "gauge", "Grant entries the domain has in use.",
         [](const api::DomainInfo& d) { return to_string(d.grant_entries); }},
    };
    for (const auto& f : kDomainFamilies) {
        e.family(f.name, f.type, f.help);
        for (const auto& d : doms) e.sample(domain_labels(d), f.value(d));
    }

    e.family("xenolith_vcpu_cpu_seconds_total", "counter", "CPU time of one vCPU.");
    for (const auto& v : vcpus)
        e.sample(domain_labels(v.domid, v.domain_name, ",vcpu=\"" + to_string(v.vcpu) + "\""),
                 seconds(v.time_ns));
    return e.take();
}

}  // namespace xenolith::format
