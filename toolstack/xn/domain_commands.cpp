// xn create, shutdown/reboot, destroy, pause/unpause, rename, domid, domname.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "toolstack/api/protocol.hpp"
#include "toolstack/xn/commands.hpp"
#include "toolstack/xn/daemon_client.hpp"
#include "toolstack/xn/guarded.hpp"

namespace xenolith::xn {

using nlohmann::json;

std::string current_dir() {
    char buf[PATH_MAX];
    return ::getcwd(buf, sizeof buf) ? std::string(buf) : std::string();
}

int create_command(const CreateOptions& o) {
    return guarded([&] {
        std::ifstream in(o.config_path, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "Failed to read config file: %s: %s\n", o.config_path.c_str(),
                         std::strerror(errno));
            return 1;
        }
        std::stringstream text;
        text << in.rdbuf();
        std::fprintf(stderr, "Parsing config from %s\n", o.config_path.c_str());
        auto client = connect_daemon();
        json r = client->call("create", {{"config_text", text.str()},
                                         {"config_name", o.config_path},
                                         {"cwd", current_dir()},
                                         {"overrides", o.overrides},
                                         {"paused", o.paused}});
        for (const auto& w : r["warnings"])
            std::fprintf(stderr, "%s\n", w.get<std::string>().c_str());
        if (o.console) return console_command(std::to_string(r["domid"].get<uint32_t>()));
        return 0;
    });
}

int shutdown_command(const ShutdownOptions& o) {
    return guarded([&] {
        auto client = connect_daemon();
        std::vector<uint32_t> ids;
        if (o.all) {
            const json listed = client->call("list");  // named: the loop reads into it
            for (const auto& d : listed["domains"])
                if (d["domid"].get<uint32_t>() != 0 && !d["shutdown"].get<bool>() &&
                    !d["dying"].get<bool>())
                    ids.push_back(d["domid"].get<uint32_t>());
        } else {
            if (o.domains.size() != 1) {
                std::fprintf(stderr, "You must specify -a or a domain id.\n\n");
                return 1;
            }
            ids.push_back(client->call("domid", {{"name", o.domains[0]}})["domid"].get<uint32_t>());
        }
        for (uint32_t id : ids) {
            std::fprintf(stderr, o.reboot ? "Rebooting domain %u\n" : "Shutting down domain %u\n",
                         id);
            client->call("shutdown", {{"domain", std::to_string(id)}, {"reboot", o.reboot}});
        }
        if (!o.wait || ids.empty()) return 0;
        std::fprintf(stderr, "Waiting for %zu domains\n", ids.size());
        for (uint32_t id : ids) {
            json e = client->call("wait", {{"domid", id}, {"death_only", o.wait > 1}});
            if (!e["reason"].is_null() && !(o.wait > 1))
                std::fprintf(stderr, "Domain %u has been shut down, reason code %u\n", id,
                             e["reason"].get<uint32_t>());
            else
                std::fprintf(stderr, "Domain %u has been destroyed\n", id);
        }
        if (o.all) std::fprintf(stderr, "All domains have been shut down\n");
        return 0;
    });
}

int destroy_command(const std::string& domain) {
    return guarded([&] {
        if (domain == "0" || domain == "Domain-0") {
            std::fprintf(stderr,
                         "Not destroying domain 0; use -f to force.\n"
                         "This can only be done when using a disaggregated hardware domain and "
                         "toolstack.\n\n");
            return 1;
        }
        connect_daemon()->call("destroy", {{"domain", domain}});
        return 0;
    });
}

int pause_command(const std::string& domain, bool pause) {
    return guarded([&] {
        connect_daemon()->call(pause ? "pause" : "unpause", {{"domain", domain}});
        return 0;
    });
}

int rename_command(const std::string& domain, const std::string& name) {
    return guarded([&] {
        connect_daemon()->call("rename", {{"domain", domain}, {"name", name}});
        return 0;
    });
}

int domid_command(const std::string& name) {
    return guarded([&] {
        json r = connect_daemon()->call("domid", {{"name", name}});
        std::printf("%u\n", r["domid"].get<uint32_t>());
        return 0;
    });
}

int domname_command(const std::string& domid) {
    return guarded([&] {
        char* end = nullptr;
        unsigned long id = std::strtoul(domid.c_str(), &end, 10);
        if (domid.empty() || *end || id > 0x7fef) {
            std::fprintf(stderr, "Invalid domain id.\n\n");
            return 1;
        }
        json r = connect_daemon()->call("domname", {{"domid", id}});
        std::printf("%s\n", r["name"].get<std::string>().c_str());
        return 0;
    });
}

}  // namespace xenolith::xn
