// What an xl.cfg means: the typed, validated description of a domain to create, with
// xl.cfg(5)'s defaults filled in. Checks against the host (enough memory, CPUs that
// exist, a pool that exists) belong to the daemon, not here.
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "toolstack/xlcfg/device_spec.hpp"
#include "toolstack/xlcfg/disk_spec.hpp"
#include "toolstack/xlcfg/parser.hpp"
#include "toolstack/xlcfg/vif_spec.hpp"

namespace xenolith::xlcfg {

// Sanity limits, far above any real host: they catch typos (memory=5120000) and keep
// hostile configs from asking for absurd allocations.
inline constexpr unsigned kMaxVcpus = 512;
inline constexpr std::uint64_t kMaxMemoryMib = std::uint64_t{16} << 20;  // 16 TiB
inline constexpr unsigned kMaxHostCpus = 4096;                           // CPU numbers 0..4095
inline constexpr std::size_t kMaxNameLength = 64;
// libxl's default when memory= is absent (libxl__domain_build_info_setdefault).
inline constexpr std::uint64_t kDefaultMemoryMib = 32;
inline constexpr unsigned kDefaultWeight = 256;  // the credit and credit2 default
inline constexpr unsigned kMaxWeight = 65535;
inline constexpr unsigned kMaxCap = 65535;  // Xen keeps the cap in 16 bits
// max_event_channels: xl's default, and the most the 2-level event channel ABI addresses.
inline constexpr unsigned kDefaultMaxEventChannels = 1023;
inline constexpr unsigned kMaxEventChannels = 4095;

enum class DomainType { Pv, Pvh, Hvm };

// accel= (a Xenolith key): which platform runs the domain. Auto: KVM where /dev/kvm can run
// guests, else the process platform (docs/xl-cfg.md).
enum class Accel { Auto, Kvm, Process };

// What happens when a domain powers off, reboots or crashes (on_poweroff= and friends).
enum class ShutdownAction {
    Destroy,
    Restart,
    RenameRestart,
    Preserve,
    CoredumpDestroy,
    CoredumpRestart,
    SoftReset,
};

// The spelling used in xl.cfg: "pv", "rename-restart", ...
std::string_view to_string(DomainType type);
std::string_view to_string(ShutdownAction action);

// A set of host CPUs. "all" is every CPU number below kMaxHostCpus; the daemon intersects
// a set with the CPUs the host really has.
class CpuSet {
  public:
    bool contains(unsigned cpu) const { return cpu < kMaxHostCpus && bits_.test(cpu); }
    bool empty() const { return bits_.none(); }
    bool is_all() const { return bits_.all(); }
    std::size_t count() const { return bits_.count(); }
    std::vector<unsigned> cpus() const;  // ascending

    // CPU numbers must be below kMaxHostCpus; ranges are inclusive with first <= last.
    void add(unsigned cpu) { bits_.set(cpu); }
    void remove(unsigned cpu) { bits_.reset(cpu); }
    void add_range(unsigned first, unsigned last) { bits_ |= range(first, last); }
    void remove_range(unsigned first, unsigned last) { bits_ &= ~range(first, last); }
    void add_all() { bits_.set(); }
    void remove_all() { bits_.reset(); }

    bool operator==(const CpuSet&) const = default;

  private:
    using Bits = std::bitset<kMaxHostCpus>;
    static Bits range(unsigned first, unsigned last) {
        return (Bits().set() >> (kMaxHostCpus - 1 - (last - first))) << first;
    }

    Bits bits_;
};

// Parses xl's CPULIST: comma-separated items applied left to right, each "all", "N" or
// "N-M", and each may be prefixed by '^' to remove rather than add ("0-3,^2", "all,^7").
// NUMA items ("node:1") are not supported yet. Returns nullopt and sets `error` (a
// phrase such as "'7-3' is a backwards range") when `text` is not a CPU list.
std::optional<CpuSet> parse_cpu_list(std::string_view text, std::string& error);

// Whether `name` may name a domain (config name=, xl rename): printable ASCII without
// spaces or '/', not all digits, not "Domain-0", at most kMaxNameLength. If not, `why`
// says so ("must not contain '/'").
bool valid_domain_name(std::string_view name, std::string& why);

// cpus= / cpus_soft=. A string gives every vCPU the same set; a list gives vCPU i the set
// at index i, and vCPUs past the end of the list get no affinity (as xl).
struct CpuAffinity {
    bool per_vcpu = false;
    std::vector<CpuSet> sets;

    // The set for `vcpu`, or nullptr when this affinity does not constrain it.
    const CpuSet* for_vcpu(unsigned vcpu) const;
};

struct DomainConfig {
    std::string name;
    std::optional<std::array<std::uint8_t, 16>> uuid;  // nullopt: the daemon makes one
    DomainType type = DomainType::Pv;
    Accel accel = Accel::Auto;

    std::string kernel;   // required for pv and pvh
    std::string ramdisk;  // empty: none
    // cmdline= if set; otherwise "root=ROOT EXTRA", "root=ROOT" or "EXTRA" as xl builds it.
    std::string cmdline;

    std::uint64_t memory_mib = kDefaultMemoryMib;
    std::uint64_t maxmem_mib = kDefaultMemoryMib;  // >= memory_mib
    unsigned vcpus = 1;                            // online at start
    unsigned maxvcpus = 1;                         // >= vcpus
    std::optional<CpuAffinity> cpus;               // hard affinity; nullopt: no pinning
    std::optional<CpuAffinity> cpus_soft;          // soft affinity; nullopt: no preference

    ShutdownAction on_poweroff = ShutdownAction::Destroy;
    ShutdownAction on_reboot = ShutdownAction::Restart;
    ShutdownAction on_crash = ShutdownAction::Destroy;

    std::optional<std::string> pool;                         // nullopt: the default pool
    unsigned weight = kDefaultWeight;                        // cpu_weight= (or weight=)
    unsigned cap = 0;                                        // percent of one CPU; 0 = no cap
    unsigned max_event_channels = kDefaultMaxEventChannels;  // xl's default

    std::vector<DeviceSpec> disks;     // disk=
    std::vector<DeviceSpec> vifs;      // vif=
    std::vector<DeviceSpec> vfbs;      // vfb=
    std::vector<DeviceSpec> channels;  // channel=
    std::vector<DeviceSpec> p9s;       // p9=
    std::vector<DeviceSpec> pcis;      // pci=

    // disk= and vif= parsed, one entry per spec in the same order. Every spec is checked
    // here, so a bad one fails `xn create` before anything is built: no two disks share a
    // device number, and every vif has a devid (0, 1, ... in order where not given).
    std::vector<DiskConfig> disk_configs;
    std::vector<VifConfig> vif_configs;

    // "<file>:<line>: warning: ..." for unknown keys and ignored settings; not fatal.
    std::vector<std::string> warnings;
};

// Checks every key's type and value and applies xl's defaults. Throws ConfigError,
// "<file>:<line>:<column>: <key>: expected <type>, got <what>" or a range message.
DomainConfig to_domain_config(const Config& config);

}  // namespace xenolith::xlcfg
