// xn save / xn restore: the daemon writes and reads the file (it holds the domain); xn
// passes the path with its own directory and prints what xl prints around it.
#include <cstdio>

#include "toolstack/api/protocol.hpp"
#include "toolstack/xn/commands.hpp"
#include "toolstack/xn/daemon_client.hpp"
#include "toolstack/xn/guarded.hpp"
#include "toolstack/xn/progress_bar.hpp"

namespace xenolith::xn {

using nlohmann::json;

namespace {

double mib(uint64_t bytes) {
    return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

}  // namespace

int save_command(const std::string& domain, const std::string& file, bool keep_running) {
    return guarded([&] {
        auto client = connect_daemon();
        const uint32_t id = client->call("domid", {{"name", domain}})["domid"].get<uint32_t>();
        std::fprintf(stderr, "Saving to %s new xenolith format (stream version 1)\n", file.c_str());
        json r = client->call("save", {{"domain", std::to_string(id)},
                                       {"file", file},
                                       {"cwd", current_dir()},
                                       {"keep_running", keep_running}});
        const auto pages = r["pages"].get<uint64_t>();
        const auto zero = r["zero_pages"].get<uint64_t>();
        std::fprintf(stderr, "Saved domain %u: %llu pages (%llu zero), %.1f MiB in %llu ms\n", id,
                     static_cast<unsigned long long>(pages), static_cast<unsigned long long>(zero),
                     mib(r["bytes"].get<uint64_t>()),
                     static_cast<unsigned long long>(r["ms"].get<uint64_t>()));
        if (keep_running) std::fprintf(stderr, "Domain %u keeps running\n", id);
        return 0;
    });
}

int restore_command(const std::string& file, bool paused) {
    return guarded([&] {
        auto client = connect_daemon();
        std::fprintf(stderr, "Loading new save file %s (new xenolith format)\n", file.c_str());
        json r =
            client->call("restore", {{"file", file}, {"cwd", current_dir()}, {"paused", paused}});
        std::fprintf(stderr, " Savefile contains xl domain config in JSON format\n");
        std::fprintf(stderr, "Restored domain %u (%s): %llu pages (%llu zero) in %llu ms\n",
                     r["domid"].get<uint32_t>(), r["name"].get<std::string>().c_str(),
                     static_cast<unsigned long long>(r["pages"].get<uint64_t>()),
                     static_cast<unsigned long long>(r["zero_pages"].get<uint64_t>()),
                     static_cast<unsigned long long>(r["ms"].get<uint64_t>()));
        return 0;
    });
}

int migrate_command(const std::string& domain, const std::string& target, bool live) {
    return guarded([&] {
        auto client = connect_daemon();
        const uint32_t id = client->call("domid", {{"name", domain}})["domid"].get<uint32_t>();
        std::fprintf(stderr, "migration sender: Sending domain %u to %s\n", id, target.c_str());
        json r;
        {
            MigrationProgressBar bar(id);
            r = client->call("migrate",
                             {{"domain", std::to_string(id)}, {"target", target}, {"live", live}});
        }
        std::fprintf(stderr,
                     "migration sender: Target has acknowledged transfer and reports successful "
                     "startup (domain %u there)\n",
                     r["target_domid"].get<uint32_t>());
        std::fprintf(stderr, "Migration successful: %llu pages (%llu zero), %.1f MiB in %llu ms\n",
                     static_cast<unsigned long long>(r["pages"].get<uint64_t>()),
                     static_cast<unsigned long long>(r["zero_pages"].get<uint64_t>()),
                     mib(r["bytes"].get<uint64_t>()),
                     static_cast<unsigned long long>(r["ms"].get<uint64_t>()));
        if (live)
            std::fprintf(stderr, "Live: %u rounds (%s), guest paused for %llu ms\n",
                         r["rounds"].get<uint32_t>(), r["mechanism"].get<std::string>().c_str(),
                         static_cast<unsigned long long>(r["downtime_ms"].get<uint64_t>()));
        return 0;
    });
}

}  // namespace xenolith::xn
