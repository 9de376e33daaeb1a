#include "toolstack/daemon/sched_commands.hpp"

#include <cstring>

#include "sched/error.hpp"
#include "toolstack/daemon/args.hpp"
#include "toolstack/xlcfg/domain_config.hpp"
#include "toolstack/xlcfg/parser.hpp"
#include "toolstack/api/protocol.hpp"

namespace xenolith::daemon {

namespace {

using nlohmann::json;
using sched::PoolId;

sched::CpuSet cpus_arg(const json& args, const char* key) {
    auto it = args.find(key);
    if (it == args.end() || !it->is_array())
        throw api::ApiError("EINVAL", std::string("argument '") + key + "' must be a list of CPU numbers");
    sched::CpuSet set;
    for (const auto& c : *it) {
        if (!c.is_number_unsigned() || c.get<uint64_t>() >= sched::CpuSet::kMaxCpus)
            throw api::ApiError("EINVAL", "CPU numbers must be below " + std::to_string(sched::CpuSet::kMaxCpus));
        set.add(static_cast<sched::Cpu>(c.get<uint64_t>()));
    }
    return set;
}

// A pool's new name: the rules of domain names (printable, no spaces or '/', not all
// digits, which would read as a pool id), so every listing prints it safely.
std::string pool_name_arg(const json& args) {
    std::string name = string_arg(args, "name");
    std::string why;
    if (!xlcfg::valid_domain_name(name, why))
        throw api::ApiError("EINVAL", "invalid pool name '" + xlcfg::printable(name) + "': " + why);
    return name;
}

json cpus_json(const sched::CpuSet& set) {
    json out = json::array();
    for (sched::Cpu c : set.list()) out.push_back(c);
    return out;
}

// A pool argument: its name, or its id in digits.
PoolId pool_arg(hv::Scheduling& s, const json& args, const char* key = "pool") {
    std::string ref = string_arg(args, key);
    if (!ref.empty() && ref.size() < 6 && std::all_of(ref.begin(), ref.end(), ::isdigit)) {
        PoolId id = static_cast<PoolId>(std::stoul(ref));
        for (const auto& p : s.pools())
            if (p.id == id) return id;
    }
    return s.pool_id(ref);
}

std::string pool_name(hv::Scheduling& s, PoolId id) {
    for (const auto& p : s.pools())
        if (p.id == id) return p.name;
    return "Pool-" + std::to_string(id);
}

json domain_params_json(const sched::DomainParams& p) {
    return std::visit(
        [](const auto& v) -> json {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, sched::CreditParams> || std::is_same_v<T, sched::Credit2Params>)
                return {{"weight", v.weight}, {"cap", v.cap}};
            else if constexpr (std::is_same_v<T, sched::RtdsParams>)
                return {{"period", v.period_us}, {"budget", v.budget_us}, {"extratime", v.extratime}};
            else
                return json::object();
        },
        p);
}

json pool_params_json(const sched::GlobalParams& p) {
    return std::visit(
        [](const auto& v) -> json {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, sched::CreditGlobals>)
                return {{"tslice_ms", v.tslice_ms}, {"ratelimit_us", v.ratelimit_us},
                        {"migration_delay_us", v.vcpu_migr_delay_us}};
            else if constexpr (std::is_same_v<T, sched::Credit2Globals>)
                return {{"ratelimit_us", v.ratelimit_us}, {"runqueue", sched::to_string(v.runqueue)}};
            else if constexpr (std::is_same_v<T, sched::Arinc653Schedule>) {
                json windows = json::array();
                for (const auto& w : v.windows)
                    windows.push_back({{"domid", w.domain}, {"vcpu", w.vcpu}, {"runtime_us", w.runtime / 1000}});
                return {{"major_frame_us", v.major_frame / 1000}, {"windows", windows}};
            } else
                return json::object();
        },
        p);
}

// The domain's parameters with `args`' fields changed (weight/cap or period/budget/extratime).
sched::DomainParams with_changes(sched::DomainParams p, const json& args) {
    std::visit(
        [&](auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, sched::CreditParams> || std::is_same_v<T, sched::Credit2Params>) {
                if (auto w = optional_number(args, "weight", 65535)) v.weight = static_cast<uint16_t>(*w);
                if (auto c = optional_number(args, "cap", 65535)) v.cap = static_cast<uint16_t>(*c);
            } else if constexpr (std::is_same_v<T, sched::RtdsParams>) {
                if (auto x = optional_number(args, "period", UINT32_MAX)) v.period_us = static_cast<uint32_t>(*x);
                if (auto x = optional_number(args, "budget", UINT32_MAX)) v.budget_us = static_cast<uint32_t>(*x);
                if (args.contains("extratime")) {
                    if (!args["extratime"].is_boolean()) throw api::ApiError("EINVAL", "'extratime' must be true or false");
                    v.extratime = args["extratime"].get<bool>();
                }
            } else {
                throw api::ApiError("EINVAL", "this domain's scheduler has no per-domain parameters");
            }
        },
        p);
    return p;
}

sched::GlobalParams pool_with_changes(sched::GlobalParams p, const json& args) {
    std::visit(
        [&](auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, sched::CreditGlobals>) {
                if (auto x = optional_number(args, "tslice_ms", 100000)) v.tslice_ms = static_cast<uint32_t>(*x);
                if (auto x = optional_number(args, "ratelimit_us", 10000000)) v.ratelimit_us = static_cast<uint32_t>(*x);
                if (auto x = optional_number(args, "migration_delay_us", 10000000))
                    v.vcpu_migr_delay_us = static_cast<uint32_t>(*x);
            } else if constexpr (std::is_same_v<T, sched::Credit2Globals>) {
                if (auto x = optional_number(args, "ratelimit_us", 10000000)) v.ratelimit_us = static_cast<uint32_t>(*x);
            } else if constexpr (std::is_same_v<T, sched::Arinc653Schedule>) {
                sched::Arinc653Schedule s;
                s.major_frame = static_cast<sched::Time>(number_arg(args, "major_frame_us", 60000000)) * 1000;
                if (!args.contains("windows") || !args["windows"].is_array())
                    throw api::ApiError("EINVAL", "'windows' must be a list of {domid, vcpu, runtime_us}");
                for (const auto& w : args["windows"]) {
                    sched::Arinc653Window win;
                    win.domain = static_cast<domid_t>(number_arg(w, "domid", 0x7fef));
                    win.vcpu = static_cast<uint32_t>(number_arg(w, "vcpu", 4095));
                    win.runtime = static_cast<sched::Time>(number_arg(w, "runtime_us", 60000000)) * 1000;
                    s.windows.push_back(win);
                }
                v = s;
            } else {
                throw api::ApiError("EINVAL", "this pool's scheduler has no parameters");
            }
        },
        p);
    return p;
}

}  // namespace

void rethrow_sched_error(const std::exception& e) {
    if (auto* se = dynamic_cast<const sched::SchedError*>(&e)) {
        const char* name = ::strerrorname_np(se->xen_errno());
        throw api::ApiError(name ? name : "EINVAL", se->what());
    }
    if (auto* ae = dynamic_cast<const api::ApiError*>(&e)) throw *ae;
    throw api::ApiError("EINVAL", e.what());
}

void add_sched_handlers(std::map<std::string, Handler>& h, hv::Scheduling& s, DomainManager& d) {
    // Every handler turns SchedError into the API's error, with Xen's errno name.
    auto wrap = [](Handler f) -> Handler {
        return [f](const json& args, Session& session) -> json {
            try {
                return f(args, session);
            } catch (const api::ApiError&) {
                throw;
            } catch (const std::exception& e) {
                rethrow_sched_error(e);
            }
        };
    };
    h["cpupool_list"] = wrap([&s](const json& args, Session&) {
        std::optional<PoolId> only;
        if (args.contains("pool")) only = pool_arg(s, args);
        json out = json::array();
        for (const auto& p : s.pools()) {
            if (only && p.id != *only) continue;
            out.push_back({{"id", p.id}, {"name", p.name}, {"sched", p.sched}, {"cpus", cpus_json(p.cpus)},
                           {"nr_domains", p.nr_domains}});
        }
        return json{{"pools", out}, {"free_cpus", cpus_json(s.free_cpus())}};
    });
    h["cpupool_create"] = wrap([&s](const json& args, Session&) {
        std::string sched = args.contains("sched") ? string_arg(args, "sched") : std::string("credit");
        PoolId id = s.create_pool(pool_name_arg(args), sched, cpus_arg(args, "cpus"));
        return json{{"id", id}};
    });
    h["cpupool_destroy"] = wrap([&s](const json& args, Session&) {
        s.destroy_pool(pool_arg(s, args));
        return json::object();
    });
    h["cpupool_rename"] = wrap([&s](const json& args, Session&) {
        s.rename_pool(pool_arg(s, args), pool_name_arg(args));
        return json::object();
    });
    h["cpupool_cpu_add"] = wrap([&s](const json& args, Session&) {
        PoolId id = pool_arg(s, args);
        for (sched::Cpu c : cpus_arg(args, "cpus").list()) s.pool_cpu_add(id, c);
        return json::object();
    });
    h["cpupool_cpu_remove"] = wrap([&s](const json& args, Session&) {
        PoolId id = pool_arg(s, args);
        for (sched::Cpu c : cpus_arg(args, "cpus").list()) s.pool_cpu_remove(id, c);
        return json::object();
    });
    h["cpupool_migrate"] = wrap([&s, &d](const json& args, Session&) {
        uint32_t domid = d.resolve(string_arg(args, "domain"));
        if (domid == 0) throw api::ApiError("EPERM", "Domain-0 is the host; it does not move between pools");
        s.migrate(static_cast<domid_t>(domid), pool_arg(s, args));
        return json::object();
    });
    // The domains of every pool run by `scheduler` (or of one pool), with their parameters.
    h["sched_show"] = wrap([&s, &d](const json& args, Session&) {
        std::string scheduler = string_arg(args, "scheduler");
        std::optional<PoolId> only;
        if (args.contains("pool")) only = pool_arg(s, args);
        bool per_vcpu = args.value("per_vcpu", false);
        std::optional<uint32_t> only_domain;
        if (args.contains("domain")) only_domain = d.resolve(string_arg(args, "domain"));
        json pools = json::array();
        auto domains = d.list();
        for (const auto& p : s.pools()) {
            if (p.sched != scheduler || (only && p.id != *only)) continue;
            json doms = json::array();
            for (const auto& info : domains) {
                if (info.domid == 0 || s.pool_of(static_cast<domid_t>(info.domid)) != p.id) continue;
                if (only_domain && info.domid != *only_domain) continue;
                json one = {{"domid", info.domid}, {"name", info.name}};
                try {
                    one["params"] = domain_params_json(s.domain_params(static_cast<domid_t>(info.domid)));
                    if (per_vcpu) {
                        json vcpus = json::array();
                        for (uint32_t v = 0; v < info.max_vcpus; ++v) {
                            json pv = domain_params_json(s.vcpu_params(static_cast<domid_t>(info.domid), v));
                            pv["vcpu"] = v;
                            vcpus.push_back(pv);
                        }
                        one["vcpus"] = vcpus;
                    }
                } catch (const std::exception&) {
                    continue;  // destroyed meanwhile
                }
                doms.push_back(one);
            }
            pools.push_back({{"id", p.id}, {"name", p.name}, {"params", pool_params_json(s.pool_params(p.id))},
                             {"domains", doms}});
        }
        return json{{"pools", pools}};
    });
    h["sched_domain"] = wrap([&s, &d](const json& args, Session&) {
        uint32_t domid = d.resolve(string_arg(args, "domain"));
        auto pool = s.pool_of(static_cast<domid_t>(domid));
        if (!pool) throw api::ApiError("ESRCH", "domain " + std::to_string(domid) + " is in no CPU pool");
        if (args.contains("scheduler") && string_arg(args, "scheduler") != s.scheduler_name(*pool))
            throw api::ApiError("EINVAL", "domain " + std::to_string(domid) + " is in cpupool " + pool_name(s, *pool) +
                                              ", which runs " + s.scheduler_name(*pool) + ", not " +
                                              string_arg(args, "scheduler"));
        domid_t id = static_cast<domid_t>(domid);
        const bool rtds_change = s.scheduler_name(*pool) == "rtds" &&
                                 (args.contains("period") || args.contains("budget") || args.contains("extratime"));
        if (rtds_change && !args.contains("vcpus")) {
            // As xl sched-rtds -d without -v: every vCPU gets the values, extratime included
            // (a domain-wide putinfo has no extratime).
            uint32_t n = d.info(domid).max_vcpus;
            for (uint32_t vcpu = 0; vcpu < n; ++vcpu)
                s.set_vcpu_params(id, vcpu, with_changes(s.vcpu_params(id, vcpu), args));
        } else if (args.contains("vcpus")) {  // rtds per vCPU
            if (!args["vcpus"].is_array()) throw api::ApiError("EINVAL", "'vcpus' must be a list of numbers");
            for (const auto& v : args["vcpus"]) {
                if (!v.is_number_unsigned()) throw api::ApiError("EINVAL", "'vcpus' must be a list of numbers");
                uint32_t vcpu = v.get<uint32_t>();
                s.set_vcpu_params(id, vcpu, with_changes(s.vcpu_params(id, vcpu), args));
            }
        } else if (args.contains("weight") || args.contains("cap") || args.contains("period") ||
                   args.contains("budget") || args.contains("extratime")) {
            s.set_domain_params(id, with_changes(s.domain_params(id), args));
        }
        return json{{"domid", domid}, {"pool", pool_name(s, *pool)}, {"scheduler", s.scheduler_name(*pool)},
                    {"params", domain_params_json(s.domain_params(id))}};
    });
    h["sched_pool"] = wrap([&s](const json& args, Session&) {
        PoolId id = args.contains("pool") ? pool_arg(s, args) : sched::kPool0;
        if (args.contains("scheduler") && string_arg(args, "scheduler") != s.scheduler_name(id))
            throw api::ApiError("EINVAL", "cpupool " + pool_name(s, id) + " runs " + s.scheduler_name(id) + ", not " +
                                              string_arg(args, "scheduler"));
        if (args.contains("set") && args["set"].is_object())
            s.set_pool_params(id, pool_with_changes(s.pool_params(id), args["set"]));
        return json{{"id", id}, {"name", pool_name(s, id)}, {"scheduler", s.scheduler_name(id)},
                    {"params", pool_params_json(s.pool_params(id))}};
    });
    h["sched_dump"] = wrap([&s](const json& args, Session&) {
        PoolId id = args.contains("pool") ? pool_arg(s, args) : sched::kPool0;
        return json{{"text", s.dump(id)}};
    });
}

}  // namespace xenolith::daemon
