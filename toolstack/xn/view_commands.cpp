// xn list, uptime, info, dmesg, vcpu-list and top: fetched from the daemon, printed by
// toolstack/format in xl's and xentop's formats.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "toolstack/api/types.hpp"
#include "toolstack/format/top_view.hpp"
#include "toolstack/format/xl_text.hpp"
#include "toolstack/xn/commands.hpp"
#include "toolstack/xn/daemon_client.hpp"
#include "toolstack/xn/guarded.hpp"

namespace xenolith::xn {

using nlohmann::json;

namespace {

uint64_t realtime_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The domains named, in the order named (xl list dom...), or all of them.
std::vector<api::DomainInfo> fetch_domains(api::Client& client,
                                           const std::vector<std::string>& names) {
    std::vector<api::DomainInfo> out;
    if (names.empty()) return client.call("list")["domains"].get<std::vector<api::DomainInfo>>();
    for (const auto& n : names)
        for (auto& d :
             client.call("list", {{"domain", n}})["domains"].get<std::vector<api::DomainInfo>>())
            out.push_back(std::move(d));
    return out;
}

void print(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace

int list_command(const std::vector<std::string>& domains, bool long_form, bool verbose) {
    return guarded([&] {
        auto client = connect_daemon();
        if (!long_form) {
            print(format::list_text(fetch_domains(*client, domains), verbose));
            return 0;
        }
        std::vector<std::pair<api::DomainInfo, json>> all;
        std::vector<std::string> names = domains;
        if (names.empty()) names.push_back("");
        for (const auto& n : names) {
            json args = json::object();
            if (!n.empty()) args["domain"] = n;
            const json listed = client->call("list_long", args);  // named: the loop reads into it
            for (const auto& d : listed["domains"])
                all.emplace_back(d["info"].get<api::DomainInfo>(), d["config"]);
        }
        print(format::list_long_json(all));
        return 0;
    });
}

int uptime_command(const std::vector<std::string>& domains, bool short_form) {
    return guarded([&] {
        auto client = connect_daemon();
        print(format::uptime_text(fetch_domains(*client, domains), short_form, realtime_ns()));
        return 0;
    });
}

int info_command() {
    return guarded([&] {
        print(format::info_text(connect_daemon()->call("info").get<api::HostInfo>()));
        return 0;
    });
}

int dmesg_command(bool clear) {
    return guarded([&] {
        json r = connect_daemon()->call("dmesg", {{"clear", clear}});
        for (const auto& line : r["lines"]) std::printf("%s\n", line.get<std::string>().c_str());
        return 0;
    });
}

int debug_keys_command(const std::string& keys) {
    return guarded([&] {
        connect_daemon()->call("debug_keys", {{"keys", keys}});
        return 0;
    });
}

int vcpu_list_command(const std::vector<std::string>& domains) {
    return guarded([&] {
        auto client = connect_daemon();
        std::vector<api::VcpuInfo> all;
        if (domains.empty()) {
            all = client->call("vcpu_list")["vcpus"].get<std::vector<api::VcpuInfo>>();
        } else {
            for (const auto& d : domains)
                for (auto& v : client->call("vcpu_list", {{"domain", d}})["vcpus"]
                                   .get<std::vector<api::VcpuInfo>>())
                    all.push_back(std::move(v));
        }
        print(format::vcpu_list_text(all));
        return 0;
    });
}

int top_command(const TopOptions& o) {
    return guarded([&] {
        auto client = connect_daemon();
        auto sample = [&] {
            format::TopSample s;
            s.host = client->call("info").get<api::HostInfo>();
            s.domains = client->call("list")["domains"].get<std::vector<api::DomainInfo>>();
            s.taken_ns = realtime_ns();
            return s;
        };
        format::TopSample previous = sample();
        auto delay = std::chrono::milliseconds(static_cast<long>(o.delay_s * 1000));
        for (int i = 0; o.iterations == 0 || i < o.iterations; ++i) {
            // The first screen has no interval to show rates over: take a short one.
            if (i > 0)
                std::this_thread::sleep_for(delay);
            else
                std::this_thread::sleep_for(std::min(delay, std::chrono::milliseconds(200)));
            format::TopSample current = sample();
            if (!o.batch) print("\033[H\033[2J");
            print(format::top_text(previous, current, o.full_names));
            if (o.batch) print("\n");
            std::fflush(stdout);
            previous = std::move(current);
        }
        return 0;
    });
}

}  // namespace xenolith::xn
