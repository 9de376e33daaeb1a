// xl.cfg(5) keys to DomainConfig. As in xl, a number may stand where a string is wanted
// and a quoted number where a number is wanted (libxlu keeps both as text).
#include "toolstack/xlcfg/domain_config.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

namespace xenolith::xlcfg {

namespace {

constexpr std::array<std::pair<std::string_view, ShutdownAction>, 7> kActions{{
    {"destroy", ShutdownAction::Destroy},
    {"restart", ShutdownAction::Restart},
    {"rename-restart", ShutdownAction::RenameRestart},
    {"preserve", ShutdownAction::Preserve},
    {"coredump-destroy", ShutdownAction::CoredumpDestroy},
    {"coredump-restart", ShutdownAction::CoredumpRestart},
    {"soft-reset", ShutdownAction::SoftReset},
}};

constexpr std::array<std::pair<std::string_view, DomainType>, 3> kTypes{{
    {"pv", DomainType::Pv},
    {"pvh", DomainType::Pvh},
    {"hvm", DomainType::Hvm},
}};

constexpr std::array<std::pair<std::string_view, Accel>, 3> kAccels{{
    {"auto", Accel::Auto},
    {"kvm", Accel::Kvm},
    {"process", Accel::Process},
}};

// Every key to_domain_config() reads; anything else earns an "unknown key" warning.
constexpr auto kKnownKeys = std::to_array<std::string_view>({
    "name",     "uuid",     "type",       "accel",     "builder",     "kernel",
    "ramdisk",  "cmdline",  "root",       "extra",     "memory",      "maxmem",
    "vcpus",    "maxvcpus", "cpus",       "cpus_soft", "on_poweroff", "on_reboot",
    "on_crash", "pool",     "cpu_weight", "weight",    "cap",         "max_event_channels",
    "disk",     "vif",      "vfb",        "channel",   "p9",          "pci",
});

std::string quoted(std::string_view text) {
    return "'" + printable(text) + "'";
}

std::string describe(const Value& v) {
    switch (v.kind) {
        case Value::Kind::String:
            return "string \"" + printable(v.text) + "\"";
        case Value::Kind::Number:
            return "number " + printable(v.text);
        case Value::Kind::List:
            return "a list";
    }
    return "?";
}

[[noreturn]] void fail(const Position& where, std::string_view key, std::string_view message) {
    throw ConfigError(where, std::string(key) + ": " + std::string(message));
}

[[noreturn]] void fail_type(const Value& v, std::string_view key, std::string_view expected) {
    fail(v.pos, key, "expected " + std::string(expected) + ", got " + describe(v));
}

// A string or number atom, as its text.
const std::string& atom_text(const Value& v, std::string_view key, std::string_view expected) {
    if (v.is_list()) fail_type(v, key, expected);
    return v.text;
}

std::uint64_t integer(const Value& v, std::string_view key, std::uint64_t min, std::uint64_t max,
                      std::string_view unit = {}) {
    if (v.is_list()) fail_type(v, key, "an integer");
    unsigned long long n = 0;
    if (!parse_number(v.text, n)) {
        // A well-formed number that does not fit in 64 bits; anything else is not a number.
        if (v.is_number())
            n = ~0ULL;
        else
            fail_type(v, key, "an integer");
    }
    if (n < min || n > max) {
        std::string range = n < min && max == ~std::uint64_t{0}
                                ? "must be at least " + std::to_string(min)
                                : "must be " + std::to_string(min) + " to " + std::to_string(max);
        if (!unit.empty()) range += " " + std::string(unit);
        fail(v.pos, key, printable(v.text) + " is out of range (" + range + ")");
    }
    return n;
}

template <typename Enum, std::size_t N>
Enum from_table(const Value& v, std::string_view key,
                const std::array<std::pair<std::string_view, Enum>, N>& table) {
    const std::string& text = atom_text(v, key, "a string");
    for (const auto& [spelling, value] : table)
        if (spelling == text) return value;
    std::string choices;
    for (std::size_t i = 0; i < N; ++i) {
        if (i > 0) choices += i + 1 == N ? " or " : ", ";
        choices += table[i].first;
    }
    fail(v.pos, key, quoted(text) + " is not one of " + choices);
}

std::string warning(const Position& where, std::string_view message) {
    return where.file + ":" + std::to_string(where.line) + ": warning: " + std::string(message);
}

void check_name(const Value& v) {
    const std::string& name = atom_text(v, "name", "a string");
    std::string why;
    if (name.empty()) fail(v.pos, "name", "must not be empty");
    if (!valid_domain_name(name, why)) fail(v.pos, "name", quoted(name) + " " + why);
}

std::array<std::uint8_t, 16> parse_uuid(const Value& v) {
    const std::string& text = atom_text(v, "uuid", "a string");
    auto bad = [&] {
        fail(v.pos, "uuid",
             quoted(text) + " is not a UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
    };
    if (text.size() != 36) bad();
    std::array<std::uint8_t, 16> out{};
    std::size_t byte = 0;
    for (std::size_t i = 0; i < text.size();) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') bad();
            ++i;
            continue;
        }
        unsigned value = 0;
        const char* first = text.data() + i;
        auto [ptr, ec] = std::from_chars(first, first + 2, value, 16);
        if (ec != std::errc() || ptr != first + 2) bad();
        out[byte++] = static_cast<std::uint8_t>(value);
        i += 2;
    }
    return out;
}

CpuSet cpu_set(const Value& v, std::string_view key) {
    const std::string& text = atom_text(v, key, "a CPU list string");
    std::string error;
    std::optional<CpuSet> set = parse_cpu_list(text, error);
    if (!set) fail(v.pos, key, "invalid CPU list " + quoted(text) + ": " + error);
    if (set->empty()) fail(v.pos, key, quoted(text) + " selects no CPUs");
    return *set;
}

CpuAffinity affinity(const Setting& s, unsigned maxvcpus, std::vector<std::string>& warnings) {
    CpuAffinity a;
    if (!s.value.is_list()) {
        a.sets.push_back(cpu_set(s.value, s.key));
        return a;
    }
    a.per_vcpu = true;
    if (s.value.items.size() > kMaxVcpus)
        fail(s.value.pos, s.key,
             "the list has " + std::to_string(s.value.items.size()) + " entries, more than the " +
                 std::to_string(kMaxVcpus) + " vCPUs a domain may have");
    for (const Value& item : s.value.items) {
        if (item.is_list()) fail_type(item, s.key, "a CPU list string");
        a.sets.push_back(cpu_set(item, s.key));
    }
    if (a.sets.size() > maxvcpus)  // xl ignores them too
        warnings.push_back(warning(s.pos, s.key + " lists " + std::to_string(a.sets.size()) +
                                              " vCPUs but maxvcpus is " + std::to_string(maxvcpus) +
                                              "; the extra entries are ignored"));
    return a;
}

std::vector<DeviceSpec> devices(const Setting& s) {
    if (!s.value.is_list()) fail_type(s.value, s.key, "a list of strings");
    std::vector<DeviceSpec> out;
    out.reserve(s.value.items.size());
    for (const Value& item : s.value.items)
        out.push_back({atom_text(item, s.key, "a string"), item.pos});
    return out;
}

}  // namespace

std::string_view to_string(DomainType type) {
    for (const auto& [spelling, value] : kTypes)
        if (value == type) return spelling;
    return "?";
}

std::string_view to_string(ShutdownAction action) {
    for (const auto& [spelling, value] : kActions)
        if (value == action) return spelling;
    return "?";
}

std::vector<unsigned> CpuSet::cpus() const {
    std::vector<unsigned> out;
    for (unsigned cpu = 0; cpu < kMaxHostCpus; ++cpu)
        if (bits_.test(cpu)) out.push_back(cpu);
    return out;
}

const CpuSet* CpuAffinity::for_vcpu(unsigned vcpu) const {
    if (!per_vcpu) return sets.empty() ? nullptr : &sets.front();
    return vcpu < sets.size() ? &sets[vcpu] : nullptr;
}

bool valid_domain_name(std::string_view name, std::string& why) {
    if (name.empty()) {
        why = "must not be empty";
        return false;
    }
    if (name.size() > kMaxNameLength) {
        why = "is longer than " + std::to_string(kMaxNameLength) + " characters";
        return false;
    }
    for (char c : name) {
        if (c == '/') {
            why = "must not contain '/'";
            return false;
        }
        if (c <= ' ' || c >= 0x7f) {
            why = "must contain only printable ASCII characters, no spaces";
            return false;
        }
    }
    if (name.front() == '-')
        why = "must not start with '-'";
    else if (std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
        why = "is all digits, which reads as a domain ID";
    else if (name == "Domain-0")
        why = "is reserved for the host";
    else
        return true;
    return false;
}

std::optional<CpuSet> parse_cpu_list(std::string_view text, std::string& error) {
    auto number = [&](std::string_view s, unsigned& out) {
        if (s.empty() || s.size() > 9 ||
            !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            error = quoted(s) + " is not a CPU number";
            return false;
        }
        std::from_chars(s.data(), s.data() + s.size(), out);
        if (out >= kMaxHostCpus) {
            error = "CPU " + std::string(s) + " is beyond the limit of " +
                    std::to_string(kMaxHostCpus - 1);
            return false;
        }
        return true;
    };
    auto trim = [](std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
        return s;
    };

    CpuSet set;
    if (trim(text).empty()) {
        error = "it is empty";
        return std::nullopt;
    }
    std::size_t start = 0;
    for (;;) {
        const std::size_t comma = text.find(',', start);
        std::string_view item =
            trim(text.substr(start, comma == std::string_view::npos ? comma : comma - start));
        const bool remove = !item.empty() && item.front() == '^';
        if (remove) item = trim(item.substr(1));
        if (item.empty()) {
            error = "an item is empty";
            return std::nullopt;
        }
        if (item == "all") {
            remove ? set.remove_all() : set.add_all();
        } else if (item.starts_with("node")) {
            error = quoted(item) + ": NUMA node items are not supported yet";
            return std::nullopt;
        } else {
            const std::size_t dash = item.find('-');
            unsigned first = 0;
            unsigned last = 0;
            if (dash == std::string_view::npos) {
                if (!number(item, first)) return std::nullopt;
                last = first;
            } else {
                if (!number(trim(item.substr(0, dash)), first) ||
                    !number(trim(item.substr(dash + 1)), last))
                    return std::nullopt;
                if (last < first) {
                    error = quoted(item) + " is a backwards range";
                    return std::nullopt;
                }
            }
            remove ? set.remove_range(first, last) : set.add_range(first, last);
        }
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return set;
}

DomainConfig to_domain_config(const Config& config) {
    DomainConfig dc;
    auto get = [&](std::string_view key) { return config.find(key); };
    auto string_of = [&](std::string_view key, std::string& out) {
        if (const Setting* s = get(key)) out = atom_text(s->value, key, "a string");
        return get(key);
    };

    // Unknown keys first, so that their warnings come in file order.
    for (const Setting& s : config.settings())
        if (std::find(kKnownKeys.begin(), kKnownKeys.end(), s.key) == kKnownKeys.end())
            dc.warnings.push_back(warning(s.pos, "unknown key " + quoted(s.key) + " ignored"));

    const Setting* name = get("name");
    if (!name) throw ConfigError(Position{config.file_name(), 0, 0}, "missing required key 'name'");
    check_name(name->value);
    dc.name = name->value.text;

    if (const Setting* s = get("uuid")) dc.uuid = parse_uuid(s->value);

    // type= replaced builder= ("generic" or "hvm"); xl still reads builder= when type= is absent.
    const Setting* type = get("type");
    if (type) dc.type = from_table(type->value, "type", kTypes);
    if (const Setting* builder = get("builder")) {
        if (type) {
            dc.warnings.push_back(warning(builder->pos, "builder= ignored in favour of type="));
        } else {
            static constexpr std::array<std::pair<std::string_view, DomainType>, 2> kBuilders{{
                {"generic", DomainType::Pv},
                {"hvm", DomainType::Hvm},
            }};
            dc.type = from_table(builder->value, "builder", kBuilders);
            dc.warnings.push_back(warning(builder->pos, "builder= is deprecated; use type="));
        }
    }

    if (const Setting* accel = get("accel")) dc.accel = from_table(accel->value, "accel", kAccels);

    const Setting* kernel = string_of("kernel", dc.kernel);
    if (!kernel && dc.type != DomainType::Hvm)
        throw ConfigError(Position{config.file_name(), 0, 0}, "missing required key 'kernel' (a " +
                                                                  std::string(to_string(dc.type)) +
                                                                  " domain boots a kernel image)");
    string_of("ramdisk", dc.ramdisk);

    std::string root;
    std::string extra;
    const Setting* cmdline = string_of("cmdline", dc.cmdline);
    const Setting* root_set = string_of("root", root);
    const Setting* extra_set = string_of("extra", extra);
    if (cmdline) {
        if (root_set || extra_set)
            dc.warnings.push_back(
                warning(cmdline->pos, "root= and extra= ignored in favour of cmdline="));
    } else if (root_set) {
        dc.cmdline = "root=" + root;
        if (extra_set) dc.cmdline += " " + extra;
    } else if (extra_set) {
        dc.cmdline = extra;
    }

    if (const Setting* s = get("memory"))
        dc.memory_mib = integer(s->value, "memory", 1, kMaxMemoryMib, "MiB");
    dc.maxmem_mib = dc.memory_mib;
    if (const Setting* s = get("maxmem")) {
        dc.maxmem_mib = integer(s->value, "maxmem", 1, kMaxMemoryMib, "MiB");
        if (dc.maxmem_mib < dc.memory_mib)
            fail(s->value.pos, "maxmem",
                 std::to_string(dc.maxmem_mib) + " is less than memory (" +
                     std::to_string(dc.memory_mib) + " MiB); maxmem must be at least memory");
    }

    if (const Setting* s = get("vcpus"))
        dc.vcpus = static_cast<unsigned>(integer(s->value, "vcpus", 1, kMaxVcpus));
    dc.maxvcpus = dc.vcpus;
    if (const Setting* s = get("maxvcpus")) {
        dc.maxvcpus = static_cast<unsigned>(integer(s->value, "maxvcpus", 1, kMaxVcpus));
        if (dc.maxvcpus < dc.vcpus)
            fail(s->value.pos, "maxvcpus",
                 std::to_string(dc.maxvcpus) + " is less than vcpus (" + std::to_string(dc.vcpus) +
                     "); maxvcpus must be at least vcpus");
    }
    if (const Setting* s = get("cpus")) dc.cpus = affinity(*s, dc.maxvcpus, dc.warnings);
    if (const Setting* s = get("cpus_soft")) dc.cpus_soft = affinity(*s, dc.maxvcpus, dc.warnings);

    if (const Setting* s = get("on_poweroff"))
        dc.on_poweroff = from_table(s->value, "on_poweroff", kActions);
    if (const Setting* s = get("on_reboot"))
        dc.on_reboot = from_table(s->value, "on_reboot", kActions);
    if (const Setting* s = get("on_crash"))
        dc.on_crash = from_table(s->value, "on_crash", kActions);

    if (const Setting* s = get("pool")) {
        const std::string& pool = atom_text(s->value, "pool", "a string");
        if (pool.empty()) fail(s->value.pos, "pool", "must not be empty");
        dc.pool = pool;
    }

    // xl's key is cpu_weight; weight= is accepted as a shorter spelling, but not both.
    const Setting* cpu_weight = get("cpu_weight");
    const Setting* weight = get("weight");
    if (cpu_weight && weight)
        fail(weight->pos, "weight",
             "cpu_weight is also set (at " + cpu_weight->pos.to_string() +
                 ") and means the same; use only one");
    if (const Setting* s = cpu_weight ? cpu_weight : weight)
        dc.weight = static_cast<unsigned>(integer(s->value, s->key, 1, kMaxWeight));
    if (const Setting* s = get("cap"))
        dc.cap = static_cast<unsigned>(integer(s->value, "cap", 0, kMaxCap, "percent"));
    // xl's max_event_channels: ports 0 .. N; the 2-level ABI caps it at 4095.
    if (const Setting* s = get("max_event_channels"))
        dc.max_event_channels =
            static_cast<unsigned>(integer(s->value, "max_event_channels", 1, kMaxEventChannels));

    if (const Setting* s = get("disk")) dc.disks = devices(*s);
    if (const Setting* s = get("vif")) dc.vifs = devices(*s);
    for (const DeviceSpec& spec : dc.disks) dc.disk_configs.push_back(parse_disk_spec(spec));
    check_unique_devids(dc.disk_configs);
    for (const DeviceSpec& spec : dc.vifs) dc.vif_configs.push_back(parse_vif_spec(spec));
    assign_vif_devids(dc.vif_configs);
    check_forward_conflicts(dc.vif_configs);
    if (const Setting* s = get("vfb")) dc.vfbs = devices(*s);
    if (const Setting* s = get("channel")) dc.channels = devices(*s);
    if (const Setting* s = get("p9")) dc.p9s = devices(*s);
    if (const Setting* s = get("pci")) dc.pcis = devices(*s);
    return dc;
}

}  // namespace xenolith::xlcfg
