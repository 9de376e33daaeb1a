// xn block-attach/-detach/-list and network-attach/-detach/-list: xl's device hot-plug
// commands.
#include <cstdio>

#include "toolstack/format/device_text.hpp"
#include "toolstack/xn/commands.hpp"
#include "toolstack/xn/daemon_client.hpp"
#include "toolstack/xn/guarded.hpp"

namespace xenolith::xn {

using nlohmann::json;

namespace {

int int_field(const json& j, const char* key) {
    return j.contains(key) ? j.at(key).get<int>() : -1;
}

}  // namespace

// xl passes every argument after the domain to xlu_disk_parse as one spec's parts: the
// same as one comma-separated spec.
std::string join_spec(const std::vector<std::string>& parts) {
    std::string spec;
    for (const auto& p : parts) spec += (spec.empty() ? "" : ",") + p;
    return spec;
}

int block_attach_command(const std::string& domain, const std::vector<std::string>& spec) {
    return guarded([&] {
        connect_daemon()->call(
            "block_attach",
            {{"domain", domain}, {"spec", join_spec(spec)}, {"cwd", current_dir()}});
        return 0;
    });
}

int block_detach_command(const std::string& domain, const std::string& device, bool force) {
    return guarded([&] {
        // libxl gives the guest 10 s to let go; --force does not wait at all.
        connect_daemon()->call(
            "block_detach",
            {{"domain", domain}, {"device", device}, {"timeout_ms", force ? 0 : 10000}});
        return 0;
    });
}

int block_list_command(const std::vector<std::string>& domains) {
    return guarded([&] {
        auto client = connect_daemon();
        std::vector<format::DiskInfo> disks;
        for (const std::string& domain : domains) {
            json reply = client->call("block_list", {{"domain", domain}});
            for (const json& d : reply.at("disks")) {
                format::DiskInfo info;
                info.devid = d.at("devid").get<uint32_t>();
                info.backend_domid = d.at("backend").get<uint32_t>();
                info.handle = d.at("handle").get<uint32_t>();
                info.state = int_field(d, "state");
                info.evtch = int_field(d, "evtch");
                info.ring_ref = int_field(d, "ring_ref");
                info.backend_path = d.at("backend_path").get<std::string>();
                disks.push_back(info);
            }
        }
        std::fputs(format::block_list_text(disks).c_str(), stdout);
        return 0;
    });
}

int network_attach_command(const std::string& domain, const std::vector<std::string>& spec) {
    return guarded([&] {
        connect_daemon()->call("network_attach", {{"domain", domain}, {"spec", join_spec(spec)}});
        return 0;
    });
}

int network_detach_command(const std::string& domain, const std::string& device, bool force) {
    return guarded([&] {
        connect_daemon()->call(
            "network_detach",
            {{"domain", domain}, {"device", device}, {"timeout_ms", force ? 0 : 10000}});
        return 0;
    });
}

int network_list_command(const std::vector<std::string>& domains) {
    return guarded([&] {
        auto client = connect_daemon();
        std::vector<format::NicInfo> nics;
        for (const std::string& domain : domains) {
            json reply = client->call("network_list", {{"domain", domain}});
            for (const json& n : reply.at("nics")) {
                format::NicInfo info;
                info.devid = n.at("devid").get<uint32_t>();
                info.backend_domid = n.at("backend").get<uint32_t>();
                auto mac = n.at("mac").get<std::vector<int>>();
                for (size_t i = 0; i < info.mac.size() && i < mac.size(); ++i)
                    info.mac[i] = static_cast<uint8_t>(mac[i]);
                info.state = int_field(n, "state");
                info.evtch = int_field(n, "evtch");
                info.tx_ring_ref = int_field(n, "tx_ring_ref");
                info.rx_ring_ref = int_field(n, "rx_ring_ref");
                info.backend_path = n.at("backend_path").get<std::string>();
                nics.push_back(info);
            }
        }
        std::fputs(format::network_list_text(nics).c_str(), stdout);
        return 0;
    });
}

}  // namespace xenolith::xn
