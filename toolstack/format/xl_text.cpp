#include "toolstack/format/xl_text.hpp"

#include <time.h>

#include <array>
#include <string_view>

#include "toolstack/format/appendf.hpp"

namespace xenolith::format {

using detail::appendf;

namespace {

// xl's fifth `xl list` letter, indexed by SHUTDOWN_* (poweroff, reboot, suspend, crash,
// watchdog, soft_reset). A poweroff shows '-', like a domain that is not shut down.
constexpr std::string_view kShutdownReasonLetters = "-rscwS";

// The reason code xl works with: 0 when not shut down, and -1 (libxl's "unknown") when
// shut down for a reason the daemon could not read.
int64_t reason_code(const api::DomainInfo& d) {
    if (!d.shutdown) return 0;
    return d.shutdown_reason ? static_cast<int64_t>(*d.shutdown_reason) : -1;
}

char reason_letter(int64_t code) {
    if (code < 0 || code >= static_cast<int64_t>(kShutdownReasonLetters.size())) return '?';
    return kShutdownReasonLetters[static_cast<size_t>(code)];
}

double seconds(uint64_t ns) {
    return static_cast<double>(ns) / 1e9;
}

}  // namespace

std::string list_text(const std::vector<api::DomainInfo>& doms, bool verbose) {
    std::string out = "Name                                        ID   Mem VCPUs\tState\tTime(s)";
    if (verbose) out += "   UUID                            Reason-Code\tSecurity Label";
    out += '\n';
    for (const auto& d : doms) {
        const int64_t code = reason_code(d);
        appendf(out, "%-40s %5u %5lu %5u     %c%c%c%c%c%c  %8.1f", d.name.c_str(), d.domid,
                static_cast<unsigned long>(d.memory_kib / 1024), d.vcpus_online,
                d.running ? 'r' : '-', d.blocked ? 'b' : '-', d.paused ? 'p' : '-',
                d.shutdown ? 's' : '-', reason_letter(code), d.dying ? 'd' : '-',
                seconds(d.cpu_time_ns));
        if (verbose) {
            appendf(out, " %s", d.uuid.c_str());
            if (d.shutdown)
                appendf(out, " %8x", static_cast<unsigned>(code));
            else
                appendf(out, " %8s", "-");
            // Xenolith has no XSM labels; xl prints "-" for a domain without one.
            appendf(out, " %16s", "-");
        }
        // Not xl's: a domain being migrated says so, and how far it has got.
        if (!d.migrating.empty()) appendf(out, "  migrating: %s", d.migrating.c_str());
        out += '\n';
    }
    return out;
}

std::string list_long_json(const std::vector<std::pair<api::DomainInfo, nlohmann::json>>& doms) {
    // ordered_json keeps xl's key order ("domid" before "config"); plain json sorts keys.
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    for (const auto& [info, config] : doms) {
        nlohmann::ordered_json one;
        one["domid"] = info.domid;
        one["config"] = config;
        one["info"] = nlohmann::json(info);
        all.push_back(std::move(one));
    }
    return all.dump(4) + "\n";
}

std::string vcpu_list_text(const std::vector<api::VcpuInfo>& vcpus) {
    std::string out;
    appendf(out, "%-32s %5s %5s %5s %5s %9s %s\n", "Name", "ID", "VCPU", "CPU", "State", "Time(s)",
            "Affinity (Hard / Soft)");
    for (const auto& v : vcpus) {
        // xl's rows are one column narrower than its header before CPU: no space after VCPU.
        appendf(out, "%-32s %5u %5u", v.domain_name.c_str(), v.domid, v.vcpu);
        if (!v.online) {
            appendf(out, "%5c %3c%cp ", '-', '-', '-');
        } else {
            if (v.cpu)
                appendf(out, "%5u", *v.cpu);
            else
                appendf(out, "%5c", '-');  // online but not yet run anywhere
            appendf(out, " %3c%c- ", v.running ? 'r' : '-', v.blocked ? 'b' : '-');
        }
        appendf(out, "%9.1f  %s / %s\n", seconds(v.time_ns), v.hard_affinity.c_str(),
                v.soft_affinity.c_str());
    }
    return out;
}

std::string uptime_string(uint64_t seconds, bool short_form) {
    const uint64_t day = seconds / 86400;
    const unsigned hour = static_cast<unsigned>(seconds % 86400 / 3600);
    const unsigned min = static_cast<unsigned>(seconds % 3600 / 60);
    const unsigned sec = static_cast<unsigned>(seconds % 60);
    const auto days = static_cast<unsigned long long>(day);
    const char* unit = day > 1 ? "days" : "day";
    std::string out;
    if (day > 0) appendf(out, "%llu %s, ", days, unit);
    if (short_form)
        appendf(out, "%2u:%02u", hour, min);
    else
        appendf(out, "%2u:%02u:%02u", hour, min, sec);
    return out;
}

std::string clock_text(uint64_t realtime_ns) {
    const time_t t = static_cast<time_t>(realtime_ns / 1'000'000'000);
    tm local{};
    std::array<char, 16> buf{};
    if (localtime_r(&t, &local) == nullptr ||
        strftime(buf.data(), buf.size(), "%H:%M:%S", &local) == 0)
        return "??:??:??";
    return buf.data();
}

std::string uptime_text(const std::vector<api::DomainInfo>& doms, bool short_form,
                        uint64_t now_realtime_ns) {
    std::string out;
    if (!short_form) appendf(out, "%-33s %4s %s\n", "Name", "ID", "Uptime");
    const std::string now = short_form ? clock_text(now_realtime_ns) : std::string();
    for (const auto& d : doms) {
        const std::string up = uptime_string(d.uptime_ns / 1'000'000'000, short_form);
        if (short_form)
            appendf(out, " %s up %s, %s (%u)\n", now.c_str(), up.c_str(), d.name.c_str(), d.domid);
        else
            appendf(out, "%-33s %4u %s\n", d.name.c_str(), d.domid, up.c_str());
    }
    return out;
}

std::string info_text(const api::HostInfo& h) {
    std::string out;
    auto field = [&out](const char* key, const std::string& value) {
        appendf(out, "%-23s: %s\n", key, value.c_str());
    };
    auto number = [&field](const char* key, uint64_t value) { field(key, std::to_string(value)); };
    // uname, as xl's output_nodeinfo.
    field("host", h.host);
    field("release", h.release);
    field("version", h.version);
    field("machine", h.machine);
    // Physical facts, as output_physinfo (no hw_caps: Xen's feature words mean nothing here).
    number("nr_cpus", h.nr_cpus);
    number("max_cpu_id", h.max_cpu_id);
    number("nr_nodes", h.nr_nodes);
    number("cores_per_socket", h.cores_per_socket);
    number("threads_per_core", h.threads_per_core);
    appendf(out, "%-23s: %llu.%03llu\n", "cpu_mhz",
            static_cast<unsigned long long>(h.cpu_khz / 1000),
            static_cast<unsigned long long>(h.cpu_khz % 1000));
    // xl prints each capability with a leading space, so no capability means no space.
    appendf(out, "%-23s:%s%s\n", "virt_caps", h.virt_caps.empty() ? "" : " ", h.virt_caps.c_str());
    number("total_memory", h.total_memory_mib);
    number("free_memory", h.free_memory_mib);
    // No page sharing, no claims and one CPU pool holding every CPU: all three are 0.
    number("sharing_freed_memory", 0);
    number("sharing_used_memory", 0);
    number("outstanding_claims", 0);
    number("free_cpus", 0);
    // The hypervisor, as output_xeninfo.
    number("xen_major", h.xen_major);
    number("xen_minor", h.xen_minor);
    field("xen_extra", h.xen_extra);
    field("xen_version",
          std::to_string(h.xen_major) + "." + std::to_string(h.xen_minor) + h.xen_extra);
    field("xen_caps", h.xen_caps);
    field("xen_scheduler", h.xen_scheduler);
    number("xen_pagesize", 4096);
    field("xen_commandline", h.xen_commandline);
    number("xend_config_format", 4);
    // Xenolith's own, after everything xl prints.
    field("kvm_flavour", h.kvm_flavour);
    field("platform",
          h.platform + (h.platform_reason.empty() ? "" : " (" + h.platform_reason + ")"));
    field("cpu_model", h.cpu_model);
    field("daemon_version", h.daemon_version);
    return out;
}

std::string cpu_list_text(const std::vector<unsigned>& cpus, unsigned nr_cpus) {
    std::vector<bool> set(nr_cpus, false);
    for (unsigned c : cpus)
        if (c < nr_cpus) set[c] = true;
    // Runs of set bits as [first, last].
    std::vector<std::pair<unsigned, unsigned>> runs;
    for (unsigned i = 0; i < nr_cpus; ++i) {
        if (!set[i]) continue;
        if (!runs.empty() && runs.back().second + 1 == i)
            runs.back().second = i;
        else
            runs.emplace_back(i, i);
    }
    if (runs.empty()) return "none";
    if (runs.size() == 1 && runs[0].first == 0 && runs[0].second + 1 == nr_cpus) return "all";
    std::string out;
    for (const auto& [first, last] : runs) {
        if (!out.empty()) out += ',';
        out += std::to_string(first);
        if (last > first) out += "-" + std::to_string(last);
    }
    return out;
}

}  // namespace xenolith::format
