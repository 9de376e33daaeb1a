// One guest as the daemon keeps it: the validated config it was created from, the live
// hypervisor domain, its console and store entry, and the toolstack-level settings xl
// keeps beside the hypervisor's (memory target, online vCPUs, restarts).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hv/domain.hpp"
#include "toolstack/daemon/console_hub.hpp"
#include "toolstack/daemon/migration_progress.hpp"
#include "toolstack/launch/pv_guest.hpp"
#include "toolstack/xlcfg/domain_config.hpp"

namespace xenolith::daemon {

struct ManagedDomain {
    xlcfg::DomainConfig cfg;             // name and uuid follow renames and restarts
    std::string config_name;             // where it came from, for messages
    std::string config_text;             // what it was parsed from, with the creator's overrides:
    std::vector<std::string> overrides;  // xn save carries them (saved_config.hpp)
    std::string kernel_path;             // resolved against the creator's directory
    std::string ramdisk_path;            // likewise; empty without one (PVH only)
    std::string cwd;  // the creator's directory: relative disk targets start there
    std::shared_ptr<hv::Domain> domain;
    std::shared_ptr<ConsoleHub> hub;
    launch::PvGuest guest;
    uint32_t restarts = 0;

    // Serializes control operations on this domain (pause against destroy, two pins).
    std::mutex op_mutex;
    uint64_t target_kib = 0;    // mem-set
    uint64_t max_kib = 0;       // mem-max
    uint32_t online_vcpus = 0;  // vcpu-set
    bool torn_down = false;     // resources released; only the record remains
    // An outgoing migration, while it lasts (any thread reads it).
    std::atomic<std::shared_ptr<MigrationProgress>> migration;

    uint32_t domid() const { return domain->id(); }
};

}  // namespace xenolith::daemon
