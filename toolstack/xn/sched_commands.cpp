// xn cpupool-* and sched-*: xl's CPU pool and scheduler commands.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "toolstack/format/sched_text.hpp"
#include "toolstack/xlcfg/domain_config.hpp"
#include "toolstack/xlcfg/parser.hpp"
#include "toolstack/xn/daemon_client.hpp"
#include "toolstack/xn/guarded.hpp"
#include "toolstack/xn/sched_commands.hpp"

namespace xenolith::xn {

using nlohmann::json;

namespace {

void print(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
}

// A CPU list (xl's syntax) as the host's CPU numbers.
json cpu_numbers(api::Client& client, const std::string& text) {
    std::string error;
    auto set = xlcfg::parse_cpu_list(text, error);
    if (!set) throw Error("invalid CPU list '" + text + "': " + error);
    unsigned nr = client.call("info").value("nr_cpus", 1u);
    json out = json::array();
    for (unsigned c : set->cpus())
        if (c < nr) out.push_back(c);
    if (out.empty())
        throw Error("'" + text + "' names no CPU of this host (it has CPUs 0-" +
                    std::to_string(nr - 1) + ")");
    return out;
}

}  // namespace

int cpupool_create_command(const CpupoolCreateOptions& o) {
    return guarded([&] {
        std::string text, source = "command line";
        if (!o.config_path.empty()) {
            std::ifstream in(o.config_path, std::ios::binary);
            if (!in) {
                std::fprintf(stderr, "Failed to read config file: %s: %s\n", o.config_path.c_str(),
                             std::strerror(errno));
                return 1;
            }
            std::stringstream ss;
            ss << in.rdbuf();
            text = ss.str();
            source = o.config_path;
        }
        xlcfg::Config cfg =
            xlcfg::Config::parse(text, o.config_path.empty() ? "<command line>" : o.config_path);
        for (const auto& v : o.overrides) cfg.apply_override(v);
        auto str = [&](const char* key) -> std::optional<std::string> {
            const xlcfg::Setting* s = cfg.find(key);
            if (!s) return std::nullopt;
            if (!s->value.is_string())
                throw xlcfg::ConfigError(s->value.pos, std::string(key) + ": expected a string");
            return s->value.text;
        };
        auto name = str("name");
        if (!name) {
            std::fprintf(stderr, "Missing cpupool name!\n");
            return 1;
        }
        std::string sched = str("sched").value_or("credit");
        auto client = connect_daemon();
        json cpus = json::array();
        if (const xlcfg::Setting* s = cfg.find("cpus")) {
            if (s->value.is_list()) {
                std::string joined;
                for (const auto& item : s->value.items)
                    joined += (joined.empty() ? "" : ",") + item.text;
                cpus = cpu_numbers(*client, joined);
            } else {
                cpus = cpu_numbers(*client, s->value.text);
            }
        } else {
            // Like xl: without cpus=, the pool takes the free CPUs.
            cpus = client->call("cpupool_list")["free_cpus"];
        }
        std::printf("Using config file \"%s\"\n", source.c_str());
        std::printf("cpupool name:   %s\n", name->c_str());
        std::printf("scheduler:      %s\n", sched.c_str());
        std::printf("number of cpus: %zu\n", cpus.size());
        if (o.dry_run) return 0;
        client->call("cpupool_create", {{"name", *name}, {"sched", sched}, {"cpus", cpus}});
        return 0;
    });
}

int cpupool_list_command(const std::string& pool, bool show_cpus) {
    return guarded([&] {
        json args = json::object();
        if (!pool.empty()) args["pool"] = pool;
        json r = connect_daemon()->call("cpupool_list", args);
        print(format::cpupool_list_text(r["pools"], show_cpus));
        return 0;
    });
}

int cpupool_simple_command(const std::string& command, const std::string& pool,
                           const std::string& arg) {
    return guarded([&] {
        auto client = connect_daemon();
        json args = {{"pool", pool}};
        if (command == "cpupool_rename") args["name"] = arg;
        if (command == "cpupool_cpu_add" || command == "cpupool_cpu_remove")
            args["cpus"] = cpu_numbers(*client, arg);
        if (command == "cpupool_migrate") args = {{"domain", pool}, {"pool", arg}};
        client->call(command, args);
        return 0;
    });
}

int sched_command(const SchedOptions& o) {
    return guarded([&] {
        auto client = connect_daemon();
        const bool weighted = o.scheduler == "credit" || o.scheduler == "credit2";
        bool domain_opts = o.weight || o.cap;
        if ((!o.pool.empty() || o.schedparam) && (!o.domain.empty() || domain_opts) && weighted) {
            std::fprintf(
                stderr, "Specifying a cpupool or schedparam is not allowed with domain options.\n");
            return 1;
        }
        if (o.domain.empty() && (domain_opts || o.period || o.budget || o.extratime ||
                                 !o.vcpus.empty() || (o.all_vcpus && o.scheduler != "rtds"))) {
            std::fprintf(stderr, "Must specify a domain.\n");
            return 1;
        }
        if (!o.schedparam && (o.tslice_ms || o.ratelimit_us || o.migration_delay_us)) {
            std::fprintf(stderr, "Must specify schedparam to set schedule parameter values.\n");
            return 1;
        }
        if (o.schedparam) {
            json args = {{"scheduler", o.scheduler}};
            if (!o.pool.empty()) args["pool"] = o.pool;
            json set = json::object();
            if (o.tslice_ms) set["tslice_ms"] = *o.tslice_ms;
            if (o.ratelimit_us) set["ratelimit_us"] = *o.ratelimit_us;
            if (o.migration_delay_us) set["migration_delay_us"] = *o.migration_delay_us;
            if (!set.empty()) {
                args["set"] = set;
                client->call("sched_pool", args);
            } else {
                print(format::sched_pool_text(o.scheduler, client->call("sched_pool", args)));
            }
            return 0;
        }
        const bool changing = domain_opts || o.period || o.budget || o.extratime;
        if (o.domain.empty() || (o.all_vcpus && !changing)) {
            // A listing: every domain of the scheduler's pools, or one domain's vCPUs (-v all).
            json args = {{"scheduler", o.scheduler}, {"per_vcpu", o.all_vcpus}};
            if (!o.pool.empty()) args["pool"] = o.pool;
            if (!o.domain.empty()) args["domain"] = o.domain;
            print(format::sched_show_text(o.scheduler, client->call("sched_show", args)["pools"],
                                          o.all_vcpus));
            return 0;
        }
        json args = {{"domain", o.domain}, {"scheduler", o.scheduler}};
        if (o.weight) args["weight"] = *o.weight;
        if (o.cap) args["cap"] = *o.cap;
        if (o.period) args["period"] = *o.period;
        if (o.budget) args["budget"] = *o.budget;
        if (o.extratime) args["extratime"] = *o.extratime != 0;
        if (!o.vcpus.empty() && !o.all_vcpus) args["vcpus"] = o.vcpus;
        json r = client->call("sched_domain", args);
        if (!changing) {
            json row = {{"domid", r["domid"]}, {"params", r["params"]}};
            json listed = client->call("list", {{"domain", o.domain}});
            row["name"] = listed["domains"][0].value("name", "");
            print(format::sched_domain_text(o.scheduler, row));
        }
        return 0;
    });
}

int sched_arinc653_command(const std::string& pool, std::optional<uint32_t> major_frame_us,
                           const std::vector<std::string>& windows) {
    return guarded([&] {
        auto client = connect_daemon();
        json args = {{"scheduler", "arinc653"}};
        if (!pool.empty()) args["pool"] = pool;
        if (!windows.empty() || major_frame_us) {
            json ws = json::array();
            uint64_t total = 0;
            for (const auto& w : windows) {
                // DOMAIN:VCPU:RUNTIME_US
                size_t a = w.find(':'), b = w.rfind(':');
                auto number = [&](const std::string& text, unsigned long max) {
                    char* end = nullptr;
                    errno = 0;
                    unsigned long n = std::strtoul(text.c_str(), &end, 10);
                    if (text.empty() || *end || errno || n > max || text[0] == '-')
                        throw Error("window '" + w +
                                    "': expected DOMAIN:VCPU:RUNTIME_US with numbers");
                    return n;
                };
                if (a == std::string::npos || a == b)
                    throw Error("window '" + w + "': expected DOMAIN:VCPU:RUNTIME_US");
                unsigned long vcpu = number(w.substr(a + 1, b - a - 1), 4095);
                unsigned long runtime = number(w.substr(b + 1), 60000000);
                uint32_t domid =
                    client->call("domid", {{"name", w.substr(0, a)}})["domid"].get<uint32_t>();
                total += runtime;
                ws.push_back({{"domid", domid}, {"vcpu", vcpu}, {"runtime_us", runtime}});
            }
            args["set"] = {{"major_frame_us", major_frame_us.value_or(total)}, {"windows", ws}};
            client->call("sched_pool", args);
            return 0;
        }
        json show = {{"scheduler", "arinc653"}};
        if (!pool.empty()) show["pool"] = pool;
        print(
            format::sched_show_text("arinc653", client->call("sched_show", show)["pools"], false));
        return 0;
    });
}

}  // namespace xenolith::xn
