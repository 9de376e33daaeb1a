#include "toolstack/daemon/saved_config.hpp"

#include <nlohmann/json.hpp>

#include "base/error.hpp"

namespace xenolith::daemon {

namespace {

using nlohmann::json;

// Bumped when a field changes meaning; a reader refuses a version it does not know.
constexpr int kFormat = 1;

template <class T>
T field(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end()) throw Error(std::string("the saved config has no '") + key + "'");
    try {
        return it->get<T>();
    } catch (const json::exception&) {
        throw Error(std::string("the saved config's '") + key + "' is of the wrong kind");
    }
}

}  // namespace

std::string saved_config_json(const SavedConfig& c) {
    return json{{"format", kFormat},
                {"config_name", c.config_name},
                {"config_text", c.config_text},
                {"overrides", c.overrides},
                {"cwd", c.cwd},
                {"kernel_path", c.kernel_path},
                {"ramdisk_path", c.ramdisk_path},
                {"domid", c.domid},
                {"name", c.name},
                {"uuid", c.uuid},
                {"target_kib", c.target_kib},
                {"max_kib", c.max_kib},
                {"online_vcpus", c.online_vcpus},
                {"restarts", c.restarts},
                {"disks", c.disks},
                {"vifs", c.vifs}}
        .dump();
}

SavedConfig parse_saved_config(std::string_view text) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error("the saved config is not a JSON object");
    if (const int f = field<int>(j, "format"); f != kFormat)
        throw Error("the saved config is format " + std::to_string(f) + "; this Xenolith reads " +
                    std::to_string(kFormat));
    SavedConfig c;
    c.config_name = field<std::string>(j, "config_name");
    c.config_text = field<std::string>(j, "config_text");
    c.overrides = field<std::vector<std::string>>(j, "overrides");
    c.cwd = field<std::string>(j, "cwd");
    c.kernel_path = field<std::string>(j, "kernel_path");
    c.ramdisk_path = field<std::string>(j, "ramdisk_path");
    c.domid = field<uint32_t>(j, "domid");
    c.name = field<std::string>(j, "name");
    c.uuid = field<std::string>(j, "uuid");
    c.target_kib = field<uint64_t>(j, "target_kib");
    c.max_kib = field<uint64_t>(j, "max_kib");
    c.online_vcpus = field<uint32_t>(j, "online_vcpus");
    c.restarts = field<uint32_t>(j, "restarts");
    c.disks = field<std::vector<std::string>>(j, "disks");
    c.vifs = field<std::vector<std::string>>(j, "vifs");
    return c;
}

}  // namespace xenolith::daemon
