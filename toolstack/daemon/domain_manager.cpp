#include "toolstack/daemon/domain_manager.hpp"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "abi/xen.hpp"
#include "backends/console/console_backend.hpp"
#include "base/error.hpp"
#include "boot/elf_image.hpp"
#include "boot/image_bytes.hpp"
#include "boot/pvh_image.hpp"
#include "hv/scheduling.hpp"
#include "toolstack/api/protocol.hpp"
#include "toolstack/daemon/config_json.hpp"
#include "toolstack/daemon/host_cpus.hpp"
#include "toolstack/daemon/managed_domain.hpp"
#include "toolstack/format/xl_text.hpp"
#include "toolstack/launch/domain_params.hpp"
#include "toolstack/launch/pvh_guest.hpp"
#include "toolstack/launch/shutdown_policy.hpp"
#include "toolstack/xlcfg/parser.hpp"

namespace xenolith::daemon {

using api::ApiError;
using xlcfg::ShutdownAction;

namespace {

std::string domain_label(uint32_t domid) {
    return "domain " + std::to_string(domid);
}

[[noreturn]] void no_such_domain(const std::string& ref) {
    throw ApiError("ENOENT", "domain '" + ref + "' does not exist");
}

// An empty affinity is no constraint: every host CPU.
std::string affinity_text(const std::vector<unsigned>& cpus, unsigned host_cpus) {
    if (cpus.empty()) return "all";
    return format::cpu_list_text(cpus, host_cpus);
}

bool is_stopped(hv::DomainState s) {
    return s == hv::DomainState::Shutdown || s == hv::DomainState::Crashed ||
           s == hv::DomainState::Dying;
}

// xl's rename-restart suffix: the UTC minute the old domain was preserved.
std::string preserve_suffix() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "-%Y%m%dT%H%MZ", &tm);
    return buf;
}

}  // namespace

void ConsoleEndpoint::input(std::string_view bytes) const {
    std::lock_guard lock(owner->op_mutex);
    if (!owner->torn_down && owner->guest.console) owner->guest.console->input(bytes);
}

DomainManager::DomainManager(hv::Hypervisor& hv, launch::StoreService& store, EventLog& log)
    : hv_(hv), store_(store), log_(log), started_(std::chrono::steady_clock::now()) {
    lifecycle_ = std::thread([this] { lifecycle_loop(); });
}

DomainManager::~DomainManager() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        quit_ = true;
    }
    changed_.notify_all();
    lifecycle_.join();
    std::map<uint32_t, std::shared_ptr<ManagedDomain>> doomed;
    {
        std::lock_guard lock(mutex_);
        doomed.swap(domains_);
    }
    for (auto& [id, md] : doomed) {
        std::lock_guard op(md->op_mutex);
        teardown(*md);
    }
}

// ---- creation ----------------------------------------------------------------------

CreateResult DomainManager::create(const CreateRequest& request) {
    xlcfg::DomainConfig cfg;
    try {
        xlcfg::Config config = xlcfg::Config::parse(request.config_text, request.config_name);
        for (const auto& o : request.overrides) config.apply_override(o);
        cfg = xlcfg::to_domain_config(config);
    } catch (const xlcfg::ConfigError& e) {
        throw ApiError("EINVAL", e.what());
    }
    check_new_domain(cfg, request.config_name);
    auto md = std::make_shared<ManagedDomain>();
    md->cfg = cfg;
    md->config_name = request.config_name;
    md->config_text = request.config_text;
    md->overrides = request.overrides;
    std::filesystem::path kernel(cfg.kernel);
    if (kernel.is_relative() && !request.cwd.empty())
        kernel = std::filesystem::path(request.cwd) / kernel;
    md->kernel_path = kernel.string();
    md->cwd = request.cwd;
    if (!cfg.ramdisk.empty()) {
        std::filesystem::path ramdisk(cfg.ramdisk);
        if (ramdisk.is_relative() && !request.cwd.empty())
            ramdisk = std::filesystem::path(request.cwd) / ramdisk;
        md->ramdisk_path = ramdisk.string();
    }

    CreateResult result;
    result.warnings = cfg.warnings;
    try {
        build(md, request.paused);
    } catch (const ApiError&) {
        throw;
    } catch (const Error& e) {
        throw ApiError("EINVAL", e.what());
    }
    result.domid = md->domid();
    result.name = cfg.name;
    return result;
}

void DomainManager::check_new_domain(const xlcfg::DomainConfig& cfg,
                                     const std::string& config_name) const {
    if (cfg.pool) {
        try {
            hv_.scheduling().pool_id(*cfg.pool);
        } catch (const std::exception&) {
            throw ApiError("ENOENT",
                           config_name + ": pool = \"" + *cfg.pool + "\": no such cpupool");
        }
    }
    try {
        launch::require_supported_type(cfg, config_name);
    } catch (const Error& e) {
        throw ApiError("EOPNOTSUPP", e.what());
    }
    std::lock_guard lock(mutex_);
    if (stopping_) throw ApiError("ESHUTDOWN", "the daemon is stopping");
    for (const auto& [id, md] : domains_)
        if (md->domain->name() == cfg.name)
            throw ApiError("EEXIST", "domain '" + cfg.name + "' already exists (domid " +
                                         std::to_string(id) + ")");
}

void DomainManager::build(const std::shared_ptr<ManagedDomain>& md, bool paused) {
    const xlcfg::DomainConfig& cfg = md->cfg;
    // Images are read before the domain exists: a bad kernel leaves nothing to undo.
    std::optional<boot::ElfImage> pv_image;
    std::optional<boot::PvhKernel> pvh_kernel;
    std::vector<uint8_t> initramfs;
    if (cfg.type == xlcfg::DomainType::Pvh) {
        pvh_kernel.emplace(boot::PvhKernel::load(md->kernel_path));
        if (!md->ramdisk_path.empty())
            initramfs = boot::read_image_file(md->ramdisk_path, cfg.memory_mib << 20,
                                              "initramfs");  // more could never fit
    } else {
        pv_image.emplace(boot::ElfImage::load(md->kernel_path));
    }
    hv::DomainParams params = launch::domain_params(cfg);
    if (cfg.pool) params.pool = hv_.scheduling().pool_id(*cfg.pool);
    md->domain = hv_.create_domain(params);
    launch_domain(
        md,
        [&] {
            md->hub = open_hub(cfg.name);
            std::shared_ptr<ConsoleHub> hub = md->hub;
            auto sink = [hub](std::string_view text) { hub->output(text); };
            if (pvh_kernel) {
                launch::PvhGuestImage image{*pvh_kernel, initramfs,       !md->ramdisk_path.empty(),
                                            cfg.cmdline, md->kernel_path, md->ramdisk_path};
                md->guest = launch::setup_pvh_guest(hv_, *md->domain, image, sink, &store_);
            } else {
                md->guest =
                    launch::setup_pv_guest(hv_, *md->domain, *pv_image, cfg.cmdline, sink, &store_);
            }
            attach_devices(*md);
            const std::string dom = "/local/domain/" + std::to_string(md->domid());
            store_.write(dom + "/memory/static-max", std::to_string(cfg.maxmem_mib << 10));
            if (cfg.vcpus < cfg.maxvcpus)
                store_.set_vcpus_online(md->domid(), cfg.vcpus, cfg.maxvcpus);
            md->target_kib = cfg.memory_mib << 10;
            md->max_kib = cfg.maxmem_mib << 10;
            md->online_vcpus = cfg.vcpus;
        },
        [&] { md->domain->start(paused); });
    log_.domain(cfg.name, md->domid(),
                std::string(paused ? "created paused" : "created") + " from " + md->config_name +
                    ": " + md->kernel_path + ", " + std::to_string(cfg.memory_mib) + " MiB, " +
                    std::to_string(cfg.vcpus) + "/" + std::to_string(cfg.maxvcpus) + " vCPUs");
}

std::shared_ptr<ConsoleHub> DomainManager::open_hub(const std::string& name) const {
    return std::make_shared<ConsoleHub>(log_.dir() + "/guest-" + name + ".log");
}

void DomainManager::launch_domain(const std::shared_ptr<ManagedDomain>& md,
                                  const std::function<void()>& setup,
                                  const std::function<void()>& start) {
    const xlcfg::DomainConfig& cfg = md->cfg;
    const uint32_t id = md->domain->id();
    bool registered = false;
    try {
        setup();
        const unsigned host_cpus = host_cpu_count();
        for (uint32_t v = 0; v < md->domain->nr_vcpus(); ++v) {
            if (cfg.cpus)
                if (const xlcfg::CpuSet* set = cfg.cpus->for_vcpu(v))
                    md->domain->vcpu(v).set_hard_affinity(
                        host_cpus_in(*set, host_cpus, md->config_name, "cpus"));
            if (cfg.cpus_soft)
                if (const xlcfg::CpuSet* set = cfg.cpus_soft->for_vcpu(v))
                    md->domain->vcpu(v).set_soft_affinity(
                        host_cpus_in(*set, host_cpus, md->config_name, "cpus_soft"));
        }
        apply_sched_config(*md);
        std::weak_ptr<ManagedDomain> weak = md;
        md->domain->set_stop_listener([this, weak](hv::DomainState) { on_stopped(weak); });
        {
            std::lock_guard lock(mutex_);
            if (stopping_) throw ApiError("ESHUTDOWN", "the daemon is stopping");
            domains_[id] = md;
            registered = true;
        }
        start();
    } catch (...) {
        if (registered) {
            std::lock_guard lock(mutex_);
            domains_.erase(id);
        }
        std::lock_guard op(md->op_mutex);
        teardown(*md);
        throw;
    }
    changed_.notify_all();
}

// weight= and cap= go to the domain's scheduler when it has them (credit, credit2); other
// schedulers keep their own defaults, as xl leaves them.
void DomainManager::apply_sched_config(ManagedDomain& md) {
    const xlcfg::DomainConfig& cfg = md.cfg;
    hv::Scheduling& s = hv_.scheduling();
    domid_t id = md.domain->id();
    auto pool = s.pool_of(id);
    if (!pool) return;
    sched::DomainParams p = s.domain_params(id);
    bool changed = false;
    auto set = [&](auto& v) {
        changed = v.weight != cfg.weight || v.cap != cfg.cap;
        v.weight = static_cast<uint16_t>(cfg.weight);
        v.cap = static_cast<uint16_t>(cfg.cap);
    };
    if (auto* c = std::get_if<sched::CreditParams>(&p))
        set(*c);
    else if (auto* c2 = std::get_if<sched::Credit2Params>(&p))
        set(*c2);
    if (!changed) return;
    try {
        s.set_domain_params(id, p);
    } catch (const std::exception& e) {
        throw ApiError("EINVAL", md.config_name + ": weight/cap: " + e.what());
    }
}

void DomainManager::teardown(ManagedDomain& md) {
    if (md.torn_down || !md.domain) return;
    md.torn_down = true;
    // The console first: it drains the guest's last output into the hub and the log.
    md.guest.console.reset();
    md.guest.devices.reset();  // backends let go of the guest's grants before it dies
    md.guest.store.reset();
    hv_.destroy_domain(md.domain->id());
    if (md.hub) md.hub->close();
}

void DomainManager::remove(const std::shared_ptr<ManagedDomain>& md) {
    {
        std::lock_guard lock(mutex_);
        auto it = domains_.find(md->domid());
        if (it != domains_.end() && it->second == md) {
            domains_.erase(it);
            remember_end_locked(*md);
        }
    }
    changed_.notify_all();
}

void DomainManager::remember_end_locked(const ManagedDomain& md) {
    if (!md.domain) return;
    const hv::DomainState s = md.domain->state();
    std::optional<uint32_t> reason;
    if (s == hv::DomainState::Shutdown || s == hv::DomainState::Crashed)
        reason = md.domain->shutdown_reason().value_or(SHUTDOWN_crash);
    ended_.emplace_back(md.domid(), reason);
    if (ended_.size() > kEndsRemembered) ended_.pop_front();
}

std::optional<uint32_t> DomainManager::ended_reason_locked(uint32_t domid) const {
    for (auto it = ended_.rbegin(); it != ended_.rend(); ++it)
        if (it->first == domid) return it->second;
    return std::nullopt;
}

// ---- lookups ----------------------------------------------------------------------

std::shared_ptr<ManagedDomain> DomainManager::find(uint32_t domid) const {
    std::lock_guard lock(mutex_);
    auto it = domains_.find(domid);
    return it == domains_.end() ? nullptr : it->second;
}

std::shared_ptr<hv::Domain> DomainManager::domain_for_debugger(uint32_t domid) const {
    if (domid == 0) throw ApiError("EPERM", "Domain-0 is the host: it has no vCPUs to debug");
    auto md = find(domid);
    if (!md || !md->domain)
        throw ApiError("ENOENT", "domain " + std::to_string(domid) + " does not exist");
    return md->domain;
}

uint32_t DomainManager::resolve(const std::string& ref) const {
    if (!ref.empty() && ref.size() <= 5 && std::all_of(ref.begin(), ref.end(), ::isdigit)) {
        uint32_t id = static_cast<uint32_t>(std::stoul(ref));
        if (id == 0) return 0;
        std::lock_guard lock(mutex_);
        if (domains_.count(id)) return id;
        no_such_domain(ref);
    }
    if (ref == "Domain-0") return 0;
    std::lock_guard lock(mutex_);
    for (const auto& [id, md] : domains_)
        if (md->domain->name() == ref) return id;
    no_such_domain(ref);
}

size_t DomainManager::size() const {
    std::lock_guard lock(mutex_);
    return domains_.size();
}

namespace {
std::shared_ptr<ManagedDomain> require(std::shared_ptr<ManagedDomain> md, uint32_t domid) {
    if (domid == 0)
        throw ApiError("EPERM", "Domain-0 is the host; it cannot be controlled this way");
    if (!md) no_such_domain(std::to_string(domid));
    return md;
}
}  // namespace

// ---- control ----------------------------------------------------------------------

void DomainManager::destroy(uint32_t domid) {
    auto md = require(find(domid), domid);
    {
        std::lock_guard op(md->op_mutex);
        teardown(*md);
    }
    remove(md);
    log_.domain(md->domain->name(), domid, "destroyed");
}

void DomainManager::pause(uint32_t domid) {
    auto md = require(find(domid), domid);
    std::lock_guard op(md->op_mutex);
    hv::DomainState s = md->domain->state();
    if (is_stopped(s))
        throw ApiError("EINVAL", domain_label(domid) + " has stopped; it cannot be paused");
    md->domain->pause();
    log_.domain(md->domain->name(), domid, "paused");
}

void DomainManager::unpause(uint32_t domid) {
    auto md = require(find(domid), domid);
    std::lock_guard op(md->op_mutex);
    if (is_stopped(md->domain->state()))
        throw ApiError("EINVAL", domain_label(domid) + " has stopped; it cannot be unpaused");
    md->domain->unpause();
    log_.domain(md->domain->name(), domid, "unpaused");
}

void DomainManager::request_shutdown(uint32_t domid, bool reboot) {
    auto md = require(find(domid), domid);
    std::lock_guard op(md->op_mutex);
    if (is_stopped(md->domain->state()))
        throw ApiError("EINVAL", domain_label(domid) + " has already stopped");
    store_.write("/local/domain/" + std::to_string(domid) + "/control/shutdown",
                 reboot ? "reboot" : "poweroff");
    log_.domain(md->domain->name(), domid, reboot ? "asked to reboot" : "asked to power off");
}

Ending DomainManager::wait_for_end(uint32_t domid, bool death_only,
                                   std::chrono::milliseconds timeout) {
    if (domid == 0) throw ApiError("EPERM", "Domain-0 is the host; it does not shut down this way");
    auto md = find(domid);
    // Gone before the wait began (a quick guest, on_poweroff = destroy): it has died, and
    // how it ended is remembered (domids are not reused soon).
    if (!md) {
        std::lock_guard lock(mutex_);
        return Ending{.destroyed = true,
                      .reason = death_only ? std::nullopt : ended_reason_locked(domid)};
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    for (;;) {
        auto it = domains_.find(domid);
        bool listed = it != domains_.end() && it->second == md;
        hv::DomainState s = md->domain->state();
        Ending e;
        if (!death_only && (s == hv::DomainState::Shutdown || s == hv::DomainState::Crashed)) {
            e.reason = md->domain->shutdown_reason().value_or(SHUTDOWN_crash);
            e.destroyed = !listed;
            return e;
        }
        if (!listed) {
            e.destroyed = true;
            return e;
        }
        if (quit_ || changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
            e.timed_out = true;
            return e;
        }
    }
}

void DomainManager::rename(uint32_t domid, const std::string& name) {
    auto md = require(find(domid), domid);
    std::string error;
    if (!xlcfg::valid_domain_name(name, error))
        throw ApiError("EINVAL", "invalid domain name '" + name + "': " + error);
    std::lock_guard op(md->op_mutex);
    std::string old = md->domain->name();
    try {
        hv_.rename_domain(domid, name);
    } catch (const Error& e) {
        throw ApiError("EEXIST", e.what());
    }
    md->cfg.name = name;
    const std::string id = std::to_string(domid);
    store_.write("/local/domain/" + id + "/name", name);
    store_.write("/vm/" + hv::uuid_to_string(md->domain->uuid()) + "/name", name);
    changed_.notify_all();
    log_.domain(name, domid, "renamed from " + old);
}

void DomainManager::vcpu_set(uint32_t domid, uint32_t online) {
    auto md = require(find(domid), domid);
    std::lock_guard op(md->op_mutex);
    uint32_t max = md->domain->nr_vcpus();
    if (online == 0 || online > max)
        throw ApiError("EINVAL", "cannot set " + std::to_string(online) +
                                     " vCPUs online: " + domain_label(domid) +
                                     " has maxvcpus = " + std::to_string(max));
    store_.set_vcpus_online(domid, online, max);
    md->online_vcpus = online;
    log_.domain(md->domain->name(), domid, "vcpu-set " + std::to_string(online));
}

void DomainManager::vcpu_pin(uint32_t domid, std::optional<uint32_t> vcpu,
                             const std::optional<std::string>& hard,
                             const std::optional<std::string>& soft) {
    auto md = require(find(domid), domid);
    const unsigned host_cpus = host_cpu_count();
    auto parse = [&](const std::string& text, const char* what) {
        std::string error;
        std::optional<xlcfg::CpuSet> set = xlcfg::parse_cpu_list(text, error);
        if (!set)
            throw ApiError("EINVAL", std::string(what) + " affinity '" + text + "': " + error);
        try {
            return host_cpus_in(*set, host_cpus, "vcpu-pin", what);
        } catch (const Error& e) {
            throw ApiError("EINVAL", e.what());
        }
    };
    std::optional<std::vector<unsigned>> hard_cpus, soft_cpus;
    if (hard) hard_cpus = parse(*hard, "hard");
    if (soft) soft_cpus = parse(*soft, "soft");
    std::lock_guard op(md->op_mutex);
    uint32_t n = md->domain->nr_vcpus();
    if (vcpu && *vcpu >= n)
        throw ApiError("EINVAL", domain_label(domid) + " has no vCPU " + std::to_string(*vcpu) +
                                     " (it has " + std::to_string(n) + ")");
    for (uint32_t v = vcpu.value_or(0); v < (vcpu ? *vcpu + 1 : n); ++v) {
        try {
            if (hard_cpus) md->domain->vcpu(v).set_hard_affinity(*hard_cpus);
        } catch (const Error& e) {
            throw ApiError("EINVAL", e.what());
        }
        if (soft_cpus) md->domain->vcpu(v).set_soft_affinity(*soft_cpus);
    }
}

void DomainManager::mem_set(uint32_t domid, uint64_t target_kib) {
    auto md = require(find(domid), domid);
    std::lock_guard op(md->op_mutex);
    uint64_t ram_kib = md->domain->memory_bytes() >> 10;
    if (target_kib > md->max_kib)
        throw ApiError("EINVAL", "memory target " + std::to_string(target_kib) + " KiB exceeds " +
                                     domain_label(domid) + "'s maximum of " +
                                     std::to_string(md->max_kib) + " KiB (see mem-max)");
    if (target_kib > ram_kib)
        throw ApiError("EINVAL",
                       "memory target " + std::to_string(target_kib) + " KiB exceeds the " +
                           std::to_string(ram_kib) + " KiB " + domain_label(domid) +
                           " was built with; growing a domain's RAM is not supported yet");
    if (target_kib < 1024)
        throw ApiError("EINVAL",
                       "memory target " + std::to_string(target_kib) + " KiB is below 1 MiB");
    store_.write("/local/domain/" + std::to_string(domid) + "/memory/target",
                 std::to_string(target_kib));
    md->target_kib = target_kib;
    log_.domain(md->domain->name(), domid, "mem-set " + std::to_string(target_kib) + " KiB");
}

void DomainManager::mem_max(uint32_t domid, uint64_t max_kib) {
    auto md = require(find(domid), domid);
    std::lock_guard op(md->op_mutex);
    if (max_kib < md->target_kib)
        throw ApiError("EINVAL", "maximum " + std::to_string(max_kib) + " KiB is below " +
                                     domain_label(domid) + "'s memory target of " +
                                     std::to_string(md->target_kib) + " KiB");
    store_.write("/local/domain/" + std::to_string(domid) + "/memory/static-max",
                 std::to_string(max_kib));
    md->max_kib = max_kib;
    log_.domain(md->domain->name(), domid, "mem-max " + std::to_string(max_kib) + " KiB");
}

ConsoleEndpoint DomainManager::console(uint32_t domid) {
    auto md = require(find(domid), domid);
    std::lock_guard op(md->op_mutex);
    if (md->torn_down) no_such_domain(std::to_string(domid));
    return ConsoleEndpoint{md->hub, md};
}

// ---- lifecycle ----------------------------------------------------------------------

void DomainManager::on_stopped(const std::weak_ptr<ManagedDomain>& md) {
    {
        std::lock_guard lock(mutex_);
        stopped_.push_back(md);
    }
    changed_.notify_all();
}

void DomainManager::lifecycle_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        changed_.wait(lock, [&] { return quit_ || !stopped_.empty(); });
        if (quit_) return;
        std::shared_ptr<ManagedDomain> md = stopped_.front().lock();
        stopped_.pop_front();
        if (!md) continue;
        lock.unlock();
        try {
            handle_stop(md);
        } catch (const std::exception& e) {
            log_.warn(std::string("lifecycle: ") + e.what());
        }
        lock.lock();
    }
}

void DomainManager::handle_stop(const std::shared_ptr<ManagedDomain>& md) {
    bool daemon_stopping;
    {
        std::lock_guard lock(mutex_);
        auto it = domains_.find(md->domid());
        if (it == domains_.end() || it->second != md) return;  // destroyed meanwhile
        daemon_stopping = stopping_;
    }
    const uint32_t id = md->domid();
    const std::string name = md->domain->name();
    const bool crashed = md->domain->state() == hv::DomainState::Crashed;
    const unsigned reason = launch::stop_reason(*md->domain);
    char line[96];
    std::snprintf(line, sizeof line, "Domain %u has shut down, reason code %u 0x%x", id, reason,
                  reason);
    log_.domain(name, id, line);
    if (crashed && !md->domain->crash_report().empty())
        log_.domain(name, id, md->domain->crash_report());

    ShutdownAction action = launch::shutdown_action(md->cfg, reason);
    if (daemon_stopping) action = ShutdownAction::Destroy;
    log_.domain(name, id,
                "Action for shutdown reason code " + std::to_string(reason) + " is " +
                    std::string(xlcfg::to_string(action)));

    if (action == ShutdownAction::Preserve) return;
    if (launch::dumps_core(action)) {
        std::string dir = log_.dir() + "/dump";
        std::string path = dir + "/" + name + ".core";
        try {
            write_core(*md, dir, path);
            log_.domain(name, id, "dumping core to " + path);
        } catch (const Error& e) {
            log_.domain(name, id, std::string("core dump failed: ") + e.what());
        }
    }
    const bool restart = launch::restarts(action);
    if (action == ShutdownAction::RenameRestart) {
        // The old domain stays for inspection under a new name and uuid; the new one
        // takes over the name and uuid (xl's preserve_domain).
        std::string kept = name + preserve_suffix();
        try {
            rename(id, kept);
            log_.domain(kept, id,
                        "Preserving domain " + std::to_string(id) + " " + name + " with suffix" +
                            kept.substr(name.size()));
        } catch (const std::exception& e) {
            log_.domain(name, id, std::string("cannot preserve: ") + e.what() + "; destroying it");
            action = ShutdownAction::Restart;
        }
    }
    if (action != ShutdownAction::RenameRestart) {
        {
            std::lock_guard op(md->op_mutex);
            teardown(*md);
        }
        remove(md);
    }
    if (!restart) {
        log_.domain(name, id, daemon_stopping ? "shut down with the daemon" : "destroyed");
        return;
    }
    auto next = std::make_shared<ManagedDomain>();
    next->cfg = md->cfg;
    next->cfg.name = name;
    next->cfg.uuid = md->domain->uuid();
    next->config_name = md->config_name;
    next->config_text = md->config_text;
    next->overrides = md->overrides;
    next->cwd = md->cwd;
    next->kernel_path = md->kernel_path;
    next->ramdisk_path = md->ramdisk_path;
    next->restarts = md->restarts + 1;
    if (action == ShutdownAction::RenameRestart) {
        // xl gives the preserved domain a new uuid and the new one the old uuid. A domain's
        // uuid is fixed here (and names its /vm/<uuid> node), so the new one gets a fresh
        // uuid instead: two live domains never share one.
        next->cfg.uuid.reset();
    }
    try {
        build(next, false);
        log_.domain(name, next->domid(),
                    "restarted as domain " + std::to_string(next->domid()) + " (restart " +
                        std::to_string(next->restarts) + ")");
    } catch (const std::exception& e) {
        log_.domain(name, id, std::string("restart failed: ") + e.what());
    }
}

void DomainManager::write_core(const ManagedDomain& md, const std::string& dir,
                               const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw Error("cannot create " + dir + ": " + ec.message());
    // The guest's RAM as it is (guest-physical address = file offset); the crash report
    // with the registers is in the domain's log.
    UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out) throw SystemError("cannot create " + path, errno);
    const hv::GuestMemory& mem = md.domain->memory();
    off_t offset = 0;
    while (static_cast<uint64_t>(offset) < mem.size()) {
        ssize_t n =
            ::sendfile(out.get(), mem.fd(), &offset, mem.size() - static_cast<uint64_t>(offset));
        if (n <= 0) throw SystemError("cannot write " + path, n < 0 ? errno : EIO);
    }
}

size_t DomainManager::shutdown_all(std::chrono::milliseconds timeout) {
    std::vector<std::shared_ptr<ManagedDomain>> all;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        for (auto& [id, md] : domains_) all.push_back(md);
    }
    for (auto& md : all) {
        std::lock_guard op(md->op_mutex);
        if (!is_stopped(md->domain->state()) && !md->torn_down) {
            try {
                store_.write("/local/domain/" + std::to_string(md->domid()) + "/control/shutdown",
                             "poweroff");
            } catch (const Error&) {
            }
        }
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    {
        std::unique_lock lock(mutex_);
        changed_.wait_until(lock, deadline, [&] {
            for (auto& md : all)
                if (!is_stopped(md->domain->state())) return false;
            return true;
        });
    }
    size_t forced = 0;
    for (auto& md : all) {
        bool clean = is_stopped(md->domain->state());
        std::string name = md->domain->name();
        bool already_gone;
        {
            std::lock_guard op(md->op_mutex);
            already_gone = md->torn_down;  // the lifecycle thread destroyed it (and said so)
            teardown(*md);
        }
        remove(md);
        forced += !clean;
        if (!already_gone)
            log_.domain(
                name, md->domid(),
                clean ? "shut down with the daemon" : "destroyed: it did not shut down in time");
    }
    return forced;
}

// ---- snapshots ----------------------------------------------------------------------

std::map<sched::PoolId, std::string> DomainManager::pool_names() const {
    std::map<sched::PoolId, std::string> names;
    for (const auto& p : hv_.scheduling().pools()) names[p.id] = p.name;
    return names;
}

api::DomainInfo DomainManager::snapshot(const ManagedDomain& md,
                                        const std::map<sched::PoolId, std::string>& pools) const {
    hv::Domain& d = *md.domain;
    api::DomainInfo i;
    i.domid = d.id();
    i.name = d.name();
    i.uuid = hv::uuid_to_string(d.uuid());
    i.type = std::string(xlcfg::to_string(md.cfg.type));
    hv::DomainState s = d.state();
    i.state = hv::state_name(s);
    i.paused = s == hv::DomainState::Paused;
    i.shutdown = s == hv::DomainState::Shutdown || s == hv::DomainState::Crashed;
    if (i.shutdown)
        i.shutdown_reason = s == hv::DomainState::Crashed
                                ? SHUTDOWN_crash
                                : d.shutdown_reason().value_or(SHUTDOWN_poweroff);
    i.dying = s == hv::DomainState::Dying;
    i.memory_kib = d.memory_bytes() >> 10;
    i.max_memory_kib = md.max_kib;
    i.target_kib = md.target_kib;
    i.max_vcpus = d.nr_vcpus();
    i.restarts = md.restarts;
    if (auto m = md.migration.load()) i.migrating = m->summary();
    i.platform = d.platform_name();
    i.platform_reason = d.platform_reason();
    if (auto pool = hv_.scheduling().pool_of(d.id()))
        if (auto it = pools.find(*pool); it != pools.end()) i.pool = it->second;
    uint64_t now = hv::TimeSource::system_time_ns();
    i.uptime_ns = now > d.created_ns() ? now - d.created_ns() : 0;
    bool any_running = false, any_online = false;
    for (uint32_t v = 0; v < d.nr_vcpus(); ++v) {
        hv::Vcpu& vc = d.vcpu(v);
        vcpu_runstate_info_t rs{};
        vc.get_runstate(rs);
        i.cpu_time_ns += rs.time[RUNSTATE_running];
        const auto& c = vc.counters();
        i.exits += c.exits.load(std::memory_order_relaxed);
        i.hypercalls += c.hypercalls.load(std::memory_order_relaxed);
        i.upcalls += c.upcalls.load(std::memory_order_relaxed);
        if (!vc.is_up()) continue;
        ++i.vcpus_online;
        any_online = true;
        any_running |= rs.state == RUNSTATE_running || rs.state == RUNSTATE_runnable;
    }
    bool live = s == hv::DomainState::Running;
    i.running = live && any_running;
    i.blocked = live && any_online && !any_running;
    if (!md.torn_down) {
        i.event_channels = d.evtchn().ports_in_use();
        i.events_sent = d.evtchn().sends();
        hv::GrantTable::Usage g = d.grant_table().usage();
        i.grant_entries = g.entries;
        i.grant_maps = g.mapped;
    }
    return i;
}

api::DomainInfo DomainManager::domain0() const {
    api::DomainInfo i;
    i.domid = 0;
    i.name = "Domain-0";
    i.uuid = "00000000-0000-0000-0000-000000000000";
    i.type = "host";
    i.state = "running";
    i.running = true;
    uint64_t total = hv::Hypervisor::host_total_memory();
    uint64_t committed = hv_.committed_memory();
    // The host keeps what is not promised to guests, as dom0 does without dom0_mem=.
    i.memory_kib = (total > committed ? total - committed : 0) >> 10;
    i.max_memory_kib = total >> 10;
    i.target_kib = i.memory_kib;
    i.vcpus_online = i.max_vcpus = host_cpu_count();
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    // The daemon process: its own threads and the host side of every vCPU thread.
    i.cpu_time_ns =
        static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
    i.uptime_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::steady_clock::now() - started_)
                                            .count());
    return i;
}

std::vector<api::DomainInfo> DomainManager::list() const {
    std::vector<std::shared_ptr<ManagedDomain>> all;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, md] : domains_) all.push_back(md);
    }
    std::vector<api::DomainInfo> out{domain0()};
    const auto pools = pool_names();  // once per listing, not once per domain
    for (const auto& md : all) out.push_back(snapshot(*md, pools));
    return out;
}

api::DomainInfo DomainManager::info(uint32_t domid) const {
    if (domid == 0) return domain0();
    auto md = find(domid);
    if (!md) no_such_domain(std::to_string(domid));
    return snapshot(*md, pool_names());
}

nlohmann::json DomainManager::config_json(uint32_t domid) const {
    if (domid == 0) return nlohmann::json::object();
    auto md = find(domid);
    if (!md) no_such_domain(std::to_string(domid));
    std::lock_guard op(md->op_mutex);
    return libxl_style_config(md->cfg, hv::uuid_to_string(md->domain->uuid()), md->kernel_path,
                              md->target_kib, md->max_kib, md->online_vcpus);
}

std::vector<api::VcpuInfo> DomainManager::vcpus(std::optional<uint32_t> domid) const {
    std::vector<std::shared_ptr<ManagedDomain>> all;
    if (domid) {
        if (*domid == 0) return {};
        auto md = find(*domid);
        if (!md) no_such_domain(std::to_string(*domid));
        all.push_back(md);
    } else {
        std::lock_guard lock(mutex_);
        for (const auto& [id, md] : domains_) all.push_back(md);
    }
    const unsigned host_cpus = host_cpu_count();
    std::vector<api::VcpuInfo> out;
    for (const auto& md : all) {
        hv::Domain& d = *md->domain;
        bool live = d.state() == hv::DomainState::Running;
        for (uint32_t v = 0; v < d.nr_vcpus(); ++v) {
            hv::Vcpu& vc = d.vcpu(v);
            api::VcpuInfo i;
            i.domid = d.id();
            i.domain_name = d.name();
            i.vcpu = v;
            i.online = vc.is_up();
            vcpu_runstate_info_t rs{};
            vc.get_runstate(rs);
            i.time_ns = rs.time[RUNSTATE_running];
            i.running =
                live && i.online && (rs.state == RUNSTATE_running || rs.state == RUNSTATE_runnable);
            i.blocked = live && i.online && rs.state == RUNSTATE_blocked;
            if (auto cpu = vc.last_cpu()) i.cpu = *cpu;
            i.hard_affinity = affinity_text(vc.hard_affinity(), host_cpus);
            i.soft_affinity = affinity_text(vc.soft_affinity(), host_cpus);
            out.push_back(std::move(i));
        }
    }
    return out;
}

}  // namespace xenolith::daemon
