#include "toolstack/format/sched_text.hpp"

#include <map>

#include "toolstack/format/appendf.hpp"

namespace xenolith::format {

namespace {

using detail::appendf;
using nlohmann::json;

std::string cpu_commas(const json& cpus) {
    std::string out;
    for (const auto& c : cpus) {
        if (!out.empty()) out += ',';
        out += std::to_string(c.get<unsigned>());
    }
    return out;
}

bool weighted(const std::string& s) { return s == "credit" || s == "credit2"; }

void header(std::string& out, const std::string& scheduler, bool per_vcpu) {
    if (weighted(scheduler)) {
        appendf(out, "%-33s %4s %6s %4s\n", "Name", "ID", "Weight", "Cap");
    } else if (scheduler == "rtds" && per_vcpu) {
        appendf(out, "%-33s %4s %4s %9s %9s %10s\n", "Name", "ID", "VCPU", "Period", "Budget", "Extratime");
    } else if (scheduler == "rtds") {
        appendf(out, "%-33s %4s %9s %9s %10s\n", "Name", "ID", "Period", "Budget", "Extratime");
    } else if (scheduler == "arinc653") {
        appendf(out, "%-33s %4s %4s %12s\n", "Name", "ID", "VCPU", "Runtime(us)");
    } else {
        appendf(out, "%-33s %4s\n", "Name", "ID");
    }
}

void row(std::string& out, const std::string& scheduler, const json& d, bool per_vcpu) {
    const std::string name = d.value("name", "");
    const unsigned id = d.value("domid", 0u);
    const json& p = d.contains("params") ? d["params"] : json::object();
    if (weighted(scheduler)) {
        appendf(out, "%-33s %4u %6u %4u\n", name.c_str(), id, p.value("weight", 0u), p.value("cap", 0u));
    } else if (scheduler == "rtds" && per_vcpu && d.contains("vcpus")) {
        for (const auto& v : d["vcpus"])
            appendf(out, "%-33s %4u %4u %9u %9u %10s\n", name.c_str(), id, v.value("vcpu", 0u), v.value("period", 0u),
                    v.value("budget", 0u), v.value("extratime", false) ? "yes" : "no");
    } else if (scheduler == "rtds") {
        appendf(out, "%-33s %4u %9u %9u %10s\n", name.c_str(), id, p.value("period", 0u), p.value("budget", 0u),
                p.value("extratime", false) ? "yes" : "no");
    } else if (scheduler != "arinc653") {
        appendf(out, "%-33s %4u\n", name.c_str(), id);
    }
}

}  // namespace

std::string cpupool_list_text(const nlohmann::json& pools, bool show_cpus) {
    std::string out;
    appendf(out, "%-19s", "Name");
    out += show_cpus ? "CPU list\n" : "CPUs   Sched     Active   Domain count\n";
    for (const auto& p : pools) {
        appendf(out, "%-19s", p.value("name", "").c_str());
        if (show_cpus)
            out += cpu_commas(p["cpus"]);
        else
            appendf(out, "%3zu %9s       y       %4u", p["cpus"].size(), p.value("sched", "").c_str(),
                    p.value("nr_domains", 0u));
        out += '\n';
    }
    return out;
}

std::string sched_pool_text(const std::string& scheduler, const json& pool) {
    std::string out;
    const std::string name = pool.value("name", "");
    const json& p = pool.contains("params") ? pool["params"] : json::object();
    if (scheduler == "credit")
        appendf(out, "Cpupool %s: tslice=%ums ratelimit=%uus migration-delay=%uus\n", name.c_str(),
                p.value("tslice_ms", 0u), p.value("ratelimit_us", 0u), p.value("migration_delay_us", 0u));
    else if (scheduler == "credit2")
        appendf(out, "Cpupool %s: ratelimit=%uus\n", name.c_str(), p.value("ratelimit_us", 0u));
    else if (scheduler == "rtds")
        appendf(out, "Cpupool %s: sched=RTDS\n", name.c_str());
    else if (scheduler == "arinc653")
        appendf(out, "Cpupool %s: sched=ARINC653 major_frame=%uus\n", name.c_str(), p.value("major_frame_us", 0u));
    else
        appendf(out, "Cpupool %s: sched=%s\n", name.c_str(), scheduler.c_str());
    return out;
}

std::string sched_show_text(const std::string& scheduler, const json& pools, bool per_vcpu) {
    std::string out;
    for (const auto& pool : pools) {
        out += sched_pool_text(scheduler, pool);
        header(out, scheduler, per_vcpu);
        if (scheduler == "arinc653") {
            // The windows, in order, named by their domains.
            std::map<unsigned, std::string> names;
            for (const auto& d : pool["domains"]) names[d.value("domid", 0u)] = d.value("name", "");
            for (const auto& w : pool["params"].value("windows", json::array())) {
                unsigned id = w.value("domid", 0u);
                auto it = names.find(id);
                appendf(out, "%-33s %4u %4u %12u\n", it == names.end() ? "-" : it->second.c_str(), id,
                        w.value("vcpu", 0u), w.value("runtime_us", 0u));
            }
            continue;
        }
        for (const auto& d : pool["domains"]) row(out, scheduler, d, per_vcpu);
    }
    return out;
}

std::string sched_domain_text(const std::string& scheduler, const json& domain) {
    std::string out;
    header(out, scheduler, false);
    row(out, scheduler, domain, false);
    return out;
}

}  // namespace xenolith::format
