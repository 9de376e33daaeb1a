// Every guest domain the daemon owns, and what happens to them: creation (all or
// nothing), the control operations xl offers, the on_poweroff/on_reboot/on_crash actions
// when a guest stops, and the snapshots `xn list`, `xn top` and the metrics are printed
// from. Domain-0 is the host itself and appears in lists as domid 0.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "hv/hypervisor.hpp"
#include "sched/cpupool.hpp"
#include "toolstack/api/types.hpp"
#include "toolstack/daemon/console_hub.hpp"
#include "toolstack/daemon/event_log.hpp"
#include "toolstack/format/device_text.hpp"
#include "toolstack/launch/store_service.hpp"
#include "toolstack/xlcfg/domain_config.hpp"

namespace xenolith::backends {
class ConsoleBackend;
}

namespace xenolith::state {
struct RestoredDomain;
class ByteSource;
}  // namespace xenolith::state

namespace xenolith::daemon {

struct ManagedDomain;
struct SavedConfig;
class FrozenDomain;

struct CreateRequest {
    std::string config_text;
    std::string config_name;  // the file name, for messages ("hello.cfg:3:9: ...")
    std::string cwd;          // the client's directory: relative kernel paths start there
    std::vector<std::string> overrides;  // KEY=VALUE, as xl create
    bool paused = false;
};

struct CreateResult {
    uint32_t domid = 0;
    std::string name;
    std::vector<std::string> warnings;
};

// xl save: what went into the file.
struct SaveResult {
    uint64_t pages = 0;
    uint64_t zero_pages = 0;
    uint64_t bytes = 0;
    uint64_t ms = 0;
};

struct RestoreRequest {
    std::string file;
    std::string cwd;  // the client's directory: a relative file starts there
    bool paused = false;
};

struct RestoreResult {
    uint32_t domid = 0;
    std::string name;
    uint64_t pages = 0;
    uint64_t zero_pages = 0;
    uint64_t ms = 0;
};

// xl migrate: what went, and where it runs now.
struct MigrateResult {
    uint32_t target_domid = 0;
    uint64_t pages = 0;
    uint64_t zero_pages = 0;
    uint64_t bytes = 0;
    uint64_t ms = 0;
    // Live: pre-copy rounds (the last, paused one included), the write-log mechanism, and
    // how long the guest was paused (from here until the target said RUNNING).
    uint32_t rounds = 1;
    std::string mechanism;
    uint64_t downtime_ms = 0;
};

// How a wait for a domain ended (xl shutdown -w, xl destroy of a dying domain).
struct Ending {
    bool destroyed = false;          // gone from the host
    std::optional<uint32_t> reason;  // shut down (SHUTDOWN_*), possibly still listed
    bool timed_out = false;
};

// What `xn console` attaches to.
struct ConsoleEndpoint {
    std::shared_ptr<ConsoleHub> hub;
    std::shared_ptr<ManagedDomain> owner;  // keeps the backend alive while attached
    void input(std::string_view bytes) const;
};

class DomainManager {
  public:
    DomainManager(hv::Hypervisor& hv, launch::StoreService& store, EventLog& log);
    ~DomainManager();  // destroys every domain
    DomainManager(const DomainManager&) = delete;
    DomainManager& operator=(const DomainManager&) = delete;

    // Throws api::ApiError (EINVAL for configs, EEXIST for names, ENOMEM, ...). On failure
    // nothing is left: no domain, no store nodes, no console, no log fd.
    CreateResult create(const CreateRequest& request);
    // xl save (save_restore.cpp): the domain's whole state into `file` (relative to
    // `cwd`), then the domain is destroyed, or with `keep_running` carries on. A domain that
    // cannot be saved is refused untouched (EOPNOTSUPP, EINVAL); a failure while writing
    // leaves it running and no file behind.
    SaveResult save(uint32_t domid, const std::string& file, const std::string& cwd,
                    bool keep_running);
    // xl restore: a domain made again from a save file, under its saved name and uuid. A
    // corrupt, truncated or foreign file is refused (EINVAL) and creates nothing.
    RestoreResult restore(const RestoreRequest& request);
    // xl migrate (migration.cpp): the domain to the daemon listening at `target`
    // ("[tcp:]HOST:PORT"), destroyed here once it runs there. A failure before the target
    // is allowed to start it leaves it running here and nothing there (ApiError EIO, or the
    // connection's errno).
    // `live`: pre-copy while the guest runs (state/precopy.hpp), then stop-and-copy.
    MigrateResult migrate(uint32_t domid, const std::string& target, bool live = false);
    // The outgoing migration of `domid` as it goes (MigrationProgress::to_json), or null
    // when none runs. Throws ApiError ENOENT for an unknown domain.
    nlohmann::json migration_progress(uint32_t domid) const;
    // The receiving side of one connection (MigrationListener): restore, READY, GO,
    // RUNNING. Never throws; what went wrong goes to the peer and the log.
    void receive_migration(int fd, const std::string& peer);
    // Name or domid, as xl's find_domain: digits are an id. Throws ApiError ENOENT.
    uint32_t resolve(const std::string& ref) const;

    void destroy(uint32_t domid);
    void pause(uint32_t domid);
    void unpause(uint32_t domid);
    // Asks the guest through control/shutdown ("poweroff" or "reboot"), as xl does for PV.
    void request_shutdown(uint32_t domid, bool reboot);
    // Waits until the domain has shut down (or, with `death_only`, is gone) or `timeout`.
    Ending wait_for_end(uint32_t domid, bool death_only, std::chrono::milliseconds timeout);
    void rename(uint32_t domid, const std::string& name);
    void vcpu_set(uint32_t domid, uint32_t online);
    // `vcpu` nullopt: all. `hard`/`soft` nullopt: leave as is (xl's "-"); CPU list syntax.
    void vcpu_pin(uint32_t domid, std::optional<uint32_t> vcpu,
                  const std::optional<std::string>& hard, const std::optional<std::string>& soft);
    void mem_set(uint32_t domid, uint64_t target_kib);
    void mem_max(uint32_t domid, uint64_t max_kib);
    ConsoleEndpoint console(uint32_t domid);
    // Split devices while the domain runs (domain_devices.cpp): xl block-attach/-detach/
    // -list. `spec` is an xl disk spec; `device` a vdev ("xvdb") or devid. Detach waits
    // up to `timeout` for the guest, then forces the device out, as libxl does.
    void block_attach(uint32_t domid, const std::string& spec, const std::string& cwd);
    void block_detach(uint32_t domid, const std::string& device, std::chrono::milliseconds timeout);
    std::vector<format::DiskInfo> block_list(uint32_t domid) const;
    // xl network-attach/-detach/-list: `spec` is an xl vif spec; `device` a devid or MAC.
    void network_attach(uint32_t domid, const std::string& spec);
    void network_detach(uint32_t domid, const std::string& device,
                        std::chrono::milliseconds timeout);
    std::vector<format::NicInfo> network_list(uint32_t domid) const;

    // The running domain itself, for its debugger (debug_commands.cpp): EPERM for
    // Domain-0, ENOENT when there is none.
    std::shared_ptr<hv::Domain> domain_for_debugger(uint32_t domid) const;

    // Snapshots: Domain-0 first, then guests by domid.
    // xl debug-keys (domain_dump.cpp): 'q' each domain's vCPUs and its xenstore and console
    // rings' indices, 'e' its event channels; other keys are refused (EINVAL) before any
    // output. Lines for the message buffer.
    std::vector<std::string> debug_keys(const std::string& keys) const;
    std::vector<api::DomainInfo> list() const;
    api::DomainInfo info(uint32_t domid) const;
    nlohmann::json config_json(uint32_t domid) const;
    std::vector<api::VcpuInfo> vcpus(std::optional<uint32_t> domid) const;
    size_t size() const;

    // Daemon stop: no more restarts; every guest is asked to power off and destroyed
    // when it has, or when `timeout` runs out. Returns how many had to be destroyed.
    size_t shutdown_all(std::chrono::milliseconds timeout);

  private:
    std::shared_ptr<ManagedDomain> find(uint32_t domid) const;
    // Creates, builds, registers and starts md's domain from md->cfg; on failure nothing
    // of it remains. Throws Error or ApiError.
    void build(const std::shared_ptr<ManagedDomain>& md, bool paused);
    // md->domain exists (Building): `setup` connects its console, store and devices, then
    // the config's affinity and scheduling are applied, the domain is registered and
    // `start` runs. On failure nothing of it remains.
    void launch_domain(const std::shared_ptr<ManagedDomain>& md, const std::function<void()>& setup,
                       const std::function<void()>& start);
    std::shared_ptr<ConsoleHub> open_hub(const std::string& name) const;
    // What create and restore check of a config before building: its pool, its type on
    // this host, a free name, a daemon that is not stopping. Throws ApiError.
    void check_new_domain(const xlcfg::DomainConfig& cfg, const std::string& config_name) const;
    uint32_t send_and_hand_over(int fd, FrozenDomain& frozen, MigrateResult& result);
    // Live: the stream sent while the domain runs, then frozen; the hand-over as above.
    uint32_t send_live_and_hand_over(int fd, ManagedDomain& md, MigrateResult& result);
    uint32_t hand_over(int fd, FrozenDomain& frozen);
    // Domain-0 refused (EPERM), an unknown domain too (ENOENT).
    std::shared_ptr<ManagedDomain> domain_to_save(uint32_t domid) const;
    // Reads a whole stream into a new domain, started (or paused); `label` names the
    // source in errors. Throws ApiError; nothing is left on failure.
    RestoreResult restore_from(state::ByteSource& source, const std::string& label, bool paused);
    xlcfg::DomainConfig config_for_restore(const SavedConfig& saved, const std::string& path);
    void connect_restored(ManagedDomain& md, const state::RestoredDomain& rd,
                          const SavedConfig& saved);
    static void write_core(const ManagedDomain& md, const std::string& dir,
                           const std::string& path);
    void teardown(ManagedDomain& md);
    void apply_sched_config(ManagedDomain& md);
    // The config's disk= and vif= devices, at create (and restart) time; `restored`: for a
    // restored domain, whose frontends came back connected (DeviceSet::add).
    void attach_devices(ManagedDomain& md, bool restored = false);
    // The domain a device command names: EPERM for Domain-0, ENOENT when there is none.
    std::shared_ptr<ManagedDomain> device_domain(uint32_t domid) const;
    void remove(const std::shared_ptr<ManagedDomain>& md);
    // How the last few removed domains ended (mutex_ held): a wait that begins after a
    // quick guest is gone still reports its shutdown reason, as xl does.
    void remember_end_locked(const ManagedDomain& md);
    std::optional<uint32_t> ended_reason_locked(uint32_t domid) const;
    static constexpr size_t kEndsRemembered = 64;
    void on_stopped(const std::weak_ptr<ManagedDomain>& md);
    void lifecycle_loop();
    void handle_stop(const std::shared_ptr<ManagedDomain>& md);
    api::DomainInfo snapshot(const ManagedDomain& md,
                             const std::map<sched::PoolId, std::string>& pools) const;
    std::map<sched::PoolId, std::string> pool_names() const;
    api::DomainInfo domain0() const;

    hv::Hypervisor& hv_;
    launch::StoreService& store_;
    EventLog& log_;
    const std::chrono::steady_clock::time_point started_;

    mutable std::mutex mutex_;
    std::condition_variable changed_;  // a domain stopped, went or was renamed
    std::map<uint32_t, std::shared_ptr<ManagedDomain>> domains_;
    std::deque<std::pair<uint32_t, std::optional<uint32_t>>> ended_;  // domid, reason
    std::deque<std::weak_ptr<ManagedDomain>> stopped_;                // for the lifecycle thread
    bool stopping_ = false;  // the daemon is stopping: no restarts
    bool quit_ = false;      // the lifecycle thread ends
    std::thread lifecycle_;
};

}  // namespace xenolith::daemon
