// The control API's commands (docs/control-api.md): argument checking and the mapping
// onto DomainManager. Every domain argument is a name or a domid, as xl takes them.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "base/unix_socket.hpp"
#include "toolstack/daemon/args.hpp"
#include "toolstack/daemon/daemon.hpp"
#include "toolstack/daemon/debug_commands.hpp"
#include "toolstack/daemon/host_cpus.hpp"
#include "toolstack/daemon/sched_commands.hpp"
#include "toolstack/daemon/trace_commands.hpp"

namespace xenolith::daemon {

namespace {

using nlohmann::json;

// xl console's escape character, Ctrl-]: the client detaches.
constexpr char kConsoleEscape = 0x1d;

// Streams a domain's console both ways until the domain goes, the client detaches or
// the daemon stops.
void stream_console(Session& s, const ConsoleEndpoint& console) {
    UniqueFd wake = console.hub->subscribe();
    struct Unsubscribe {
        ConsoleHub& hub;
        int fd;
        ~Unsubscribe() { hub.unsubscribe(fd); }
    } unsubscribe{*console.hub, wake.get()};

    auto forward_input = [&](std::string bytes) {
        size_t escape = bytes.find(kConsoleEscape);
        if (escape != std::string::npos) bytes.resize(escape);
        if (!bytes.empty()) console.input(bytes);
        return escape == std::string::npos;
    };
    if (!forward_input(s.reader().take_buffered())) return;

    uint64_t offset = console.hub->history_start();
    bool input_open = true;
    for (;;) {
        pollfd fds[3] = {{wake.get(), POLLIN, 0},
                         {s.stop_fd(), POLLIN, 0},
                         {s.fd(), static_cast<short>(input_open ? POLLIN : 0), 0}};
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        // Input before hang-up: a client that types and detaches at once (keys, then
        // Ctrl-] in one read) reports POLLIN and POLLHUP together, and its keys count.
        if ((fds[2].revents & (POLLHUP | POLLERR)) && !(fds[2].revents & POLLIN)) return;
        if (fds[2].revents & POLLIN) {
            char buf[4096];
            ssize_t n = ::recv(s.fd(), buf, sizeof buf, 0);
            if (n <= 0) {
                input_open = false;  // the client's stdin ended; output still flows
            } else if (!forward_input(std::string(buf, static_cast<size_t>(n)))) {
                return;
            }
        }
        if (fds[0].revents & POLLIN) {
            uint64_t count;
            ssize_t rc = ::read(wake.get(), &count, sizeof count);
            (void)rc;
            ConsoleHub::Chunk chunk = console.hub->read_from(offset);
            offset = chunk.next;
            if (!chunk.bytes.empty() && !write_all(s.fd(), chunk.bytes.data(), chunk.bytes.size()))
                return;
            if (chunk.closed) return;
        }
    }
}

}  // namespace

std::map<std::string, Handler> Daemon::handlers() {
    std::map<std::string, Handler> h;
    DomainManager& d = *domains_;
    auto domid_of = [&d](const json& args) { return d.resolve(string_arg(args, "domain")); };

    h["hello"] = [](const json&, Session&) {
        return json{{"api", api::kApiVersion}, {"daemon", kDaemonVersion}, {"pid", ::getpid()}};
    };
    h["create"] = [&d](const json& args, Session&) {
        CreateRequest r;
        r.config_text = string_arg(args, "config_text");
        r.config_name = string_arg(args, "config_name");
        r.cwd = optional_string(args, "cwd").value_or("");
        if (auto it = args.find("overrides"); it != args.end()) {
            if (!it->is_array())
                throw api::ApiError("EINVAL", "argument 'overrides' must be a list of strings");
            for (const auto& o : *it) {
                if (!o.is_string())
                    throw api::ApiError("EINVAL", "argument 'overrides' must be a list of strings");
                r.overrides.push_back(o.get<std::string>());
            }
        }
        r.paused = flag_arg(args, "paused");
        CreateResult c = d.create(r);
        return json{{"domid", c.domid}, {"name", c.name}, {"warnings", c.warnings}};
    };
    h["save"] = [&d, domid_of](const json& args, Session&) {
        SaveResult r =
            d.save(domid_of(args), string_arg(args, "file"),
                   optional_string(args, "cwd").value_or(""), flag_arg(args, "keep_running"));
        return json{
            {"pages", r.pages}, {"zero_pages", r.zero_pages}, {"bytes", r.bytes}, {"ms", r.ms}};
    };
    h["migrate"] = [&d, domid_of](const json& args, Session&) {
        MigrateResult r =
            d.migrate(domid_of(args), string_arg(args, "target"), flag_arg(args, "live"));
        return json{{"target_domid", r.target_domid},
                    {"pages", r.pages},
                    {"zero_pages", r.zero_pages},
                    {"bytes", r.bytes},
                    {"ms", r.ms},
                    {"rounds", r.rounds},
                    {"mechanism", r.mechanism},
                    {"downtime_ms", r.downtime_ms}};
    };
    h["migration_progress"] = [&d, domid_of](const json& args, Session&) {
        return json{{"progress", d.migration_progress(domid_of(args))}};
    };
    h["restore"] = [&d](const json& args, Session&) {
        RestoreRequest req{string_arg(args, "file"), optional_string(args, "cwd").value_or(""),
                           flag_arg(args, "paused")};
        RestoreResult r = d.restore(req);
        return json{{"domid", r.domid},
                    {"name", r.name},
                    {"pages", r.pages},
                    {"zero_pages", r.zero_pages},
                    {"ms", r.ms}};
    };
    h["destroy"] = [&d, domid_of](const json& args, Session&) {
        d.destroy(domid_of(args));
        return json::object();
    };
    h["shutdown"] = [&d, domid_of](const json& args, Session&) {
        uint32_t id = domid_of(args);
        d.request_shutdown(id, flag_arg(args, "reboot"));
        return json{{"domid", id}};
    };
    h["wait"] = [&d](const json& args, Session&) {
        uint32_t id = static_cast<uint32_t>(number_arg(args, "domid", 0x7fef));
        uint64_t timeout_ms =
            args.contains("timeout_ms") ? number_arg(args, "timeout_ms", 86400000) : 86400000;
        Ending e =
            d.wait_for_end(id, flag_arg(args, "death_only"), std::chrono::milliseconds(timeout_ms));
        json out = {{"destroyed", e.destroyed}, {"timed_out", e.timed_out}, {"reason", nullptr}};
        if (e.reason) out["reason"] = *e.reason;
        return out;
    };
    h["pause"] = [&d, domid_of](const json& args, Session&) {
        d.pause(domid_of(args));
        return json::object();
    };
    h["unpause"] = [&d, domid_of](const json& args, Session&) {
        d.unpause(domid_of(args));
        return json::object();
    };
    h["rename"] = [&d, domid_of](const json& args, Session&) {
        d.rename(domid_of(args), string_arg(args, "name"));
        return json::object();
    };
    h["domid"] = [&d](const json& args, Session&) {
        std::string name = string_arg(args, "name");
        uint32_t id = d.resolve(name);
        return json{{"domid", id}};
    };
    h["domname"] = [&d](const json& args, Session&) {
        uint32_t id = static_cast<uint32_t>(number_arg(args, "domid", 0x7fef));
        return json{{"name", d.info(id).name}};
    };
    h["list"] = [&d](const json& args, Session&) {
        json out = json::array();
        if (auto ref = optional_string(args, "domain")) {
            out.push_back(d.info(d.resolve(*ref)));
        } else {
            for (const auto& i : d.list()) out.push_back(i);
        }
        return json{{"domains", out}};
    };
    h["list_long"] = [&d](const json& args, Session&) {
        json out = json::array();
        std::vector<uint32_t> ids;
        if (auto ref = optional_string(args, "domain"))
            ids.push_back(d.resolve(*ref));
        else
            for (const auto& i : d.list()) ids.push_back(i.domid);
        for (uint32_t id : ids) {
            try {
                out.push_back({{"info", d.info(id)}, {"config", d.config_json(id)}});
            } catch (const api::ApiError&) {
                // Destroyed between the listing and now.
            }
        }
        return json{{"domains", out}};
    };
    h["info"] = [this](const json&, Session&) { return json(host_info()); };
    h["dmesg"] = [this](const json& args, Session&) {
        json lines = log_.dmesg();
        if (flag_arg(args, "clear")) log_.clear_dmesg();
        return json{{"lines", lines}};
    };
    h["debug_keys"] = [this, &d](const json& args, Session&) {
        const auto keys = optional_string(args, "keys");
        if (!keys || keys->empty()) throw api::ApiError("EINVAL", "debug_keys needs 'keys'");
        const std::vector<std::string> lines = d.debug_keys(*keys);
        for (const std::string& line : lines) log_.info(line);
        return json{{"lines", lines.size()}};
    };
    h["vcpu_list"] = [&d](const json& args, Session&) {
        std::optional<uint32_t> id;
        if (auto ref = optional_string(args, "domain")) id = d.resolve(*ref);
        json out = json::array();
        for (const auto& v : d.vcpus(id)) out.push_back(v);
        return json{{"vcpus", out}, {"nr_cpus", host_cpu_count()}};
    };
    h["vcpu_pin"] = [&d, domid_of](const json& args, Session&) {
        std::string vcpu = string_arg(args, "vcpu");
        std::optional<uint32_t> which;
        if (vcpu != "all") {
            char* end = nullptr;
            unsigned long v = std::strtoul(vcpu.c_str(), &end, 10);
            if (vcpu.empty() || *end || v > 4096)
                throw api::ApiError("EINVAL", "invalid vCPU '" + vcpu + "': a number or 'all'");
            which = static_cast<uint32_t>(v);
        }
        d.vcpu_pin(domid_of(args), which, optional_string(args, "hard"),
                   optional_string(args, "soft"));
        return json::object();
    };
    h["vcpu_set"] = [&d, domid_of](const json& args, Session&) {
        d.vcpu_set(domid_of(args), static_cast<uint32_t>(number_arg(args, "count", 4096)));
        return json::object();
    };
    h["mem_set"] = [&d, domid_of](const json& args, Session&) {
        d.mem_set(domid_of(args), number_arg(args, "kib", uint64_t{1} << 40));
        return json::object();
    };
    h["mem_max"] = [&d, domid_of](const json& args, Session&) {
        d.mem_max(domid_of(args), number_arg(args, "kib", uint64_t{1} << 40));
        return json::object();
    };
    h["block_attach"] = [&d, domid_of](const json& args, Session&) {
        d.block_attach(domid_of(args), string_arg(args, "spec"),
                       optional_string(args, "cwd").value_or(""));
        return json::object();
    };
    h["block_detach"] = [&d, domid_of](const json& args, Session&) {
        uint64_t timeout_ms = optional_number(args, "timeout_ms", 600000).value_or(10000);
        d.block_detach(domid_of(args), string_arg(args, "device"),
                       std::chrono::milliseconds(timeout_ms));
        return json::object();
    };
    h["block_list"] = [&d, domid_of](const json& args, Session&) {
        json disks = json::array();
        for (const format::DiskInfo& i : d.block_list(domid_of(args)))
            disks.push_back({{"devid", i.devid},
                             {"backend", i.backend_domid},
                             {"handle", i.handle},
                             {"state", i.state},
                             {"evtch", i.evtch},
                             {"ring_ref", i.ring_ref},
                             {"backend_path", i.backend_path}});
        return json{{"disks", disks}};
    };
    h["network_attach"] = [&d, domid_of](const json& args, Session&) {
        d.network_attach(domid_of(args), string_arg(args, "spec"));
        return json::object();
    };
    h["network_detach"] = [&d, domid_of](const json& args, Session&) {
        uint64_t timeout_ms = optional_number(args, "timeout_ms", 600000).value_or(10000);
        d.network_detach(domid_of(args), string_arg(args, "device"),
                         std::chrono::milliseconds(timeout_ms));
        return json::object();
    };
    h["network_list"] = [&d, domid_of](const json& args, Session&) {
        json nics = json::array();
        for (const format::NicInfo& n : d.network_list(domid_of(args)))
            nics.push_back({{"devid", n.devid},
                            {"backend", n.backend_domid},
                            {"mac", std::vector<int>(n.mac.begin(), n.mac.end())},
                            {"state", n.state},
                            {"evtch", n.evtch},
                            {"tx_ring_ref", n.tx_ring_ref},
                            {"rx_ring_ref", n.rx_ring_ref},
                            {"backend_path", n.backend_path}});
        return json{{"nics", nics}};
    };
    h["console"] = [&d, domid_of](const json& args, Session& s) {
        uint32_t id = domid_of(args);
        ConsoleEndpoint console = d.console(id);
        s.begin_stream({{"domid", id}});
        stream_console(s, console);
        return json::object();
    };
    h["metrics"] = [this](const json&, Session&) { return json{{"text", metrics_text()}}; };
    add_sched_handlers(h, hv_.scheduling(), d);
    add_debug_handlers(h, d);
    add_trace_handlers(h, d);
    return h;
}

}  // namespace xenolith::daemon
