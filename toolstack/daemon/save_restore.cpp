// xl save / xl restore (docs/domain-stream.md): a PV domain's whole state into a file,
// with the toolstack's config and the domain's store state beside the hypervisor's, and a
// domain made again from such a file. Saving is transparent: the guest is paused, not
// asked to suspend, and resumes where it was, as a KVM guest saved by QEMU does.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "base/elapsed.hpp"
#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "state/domain_save.hpp"
#include "toolstack/api/protocol.hpp"
#include "toolstack/daemon/domain_manager.hpp"
#include "toolstack/daemon/frozen_domain.hpp"
#include "toolstack/daemon/managed_domain.hpp"
#include "toolstack/daemon/saved_config.hpp"
#include "toolstack/launch/disk_device.hpp"
#include "toolstack/launch/domain_params.hpp"
#include "toolstack/xlcfg/disk_spec.hpp"
#include "toolstack/xlcfg/parser.hpp"
#include "toolstack/xlcfg/vif_spec.hpp"

namespace xenolith::daemon {

using api::ApiError;

namespace {

[[noreturn]] void file_error(const std::string& path, const char* what, int err) {
    const char* name = ::strerrorname_np(err);
    throw ApiError(name ? name : "EIO", path + ": " + what + ": " + std::strerror(err));
}

}  // namespace

std::shared_ptr<ManagedDomain> DomainManager::domain_to_save(uint32_t domid) const {
    if (domid == 0) throw ApiError("EPERM", "Domain-0 is the host; it cannot be saved");
    auto md = find(domid);
    if (!md) throw ApiError("ENOENT", "domain '" + std::to_string(domid) + "' does not exist");
    return md;
}

SaveResult DomainManager::save(uint32_t domid, const std::string& file, const std::string& cwd,
                               bool keep_running) {
    auto md = domain_to_save(domid);
    const std::string path = launch::resolve_target(file, cwd);
    const auto t0 = std::chrono::steady_clock::now();
    SaveResult result;
    {
        std::lock_guard op(md->op_mutex);
        if (md->torn_down) throw ApiError("ENOENT", "domain " + std::to_string(domid) + " is gone");
        require_savable(*md);
        UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd) file_error(path, "cannot create the save file", errno);
        FrozenDomain frozen(*md, store_);
        try {
            state::FdSink sink(fd.get());
            const state::SaveCounts c = frozen.write(sink);
            if (::fsync(fd.get()) != 0) file_error(path, "cannot write the save file", errno);
            result.pages = c.pages.pages;
            result.zero_pages = c.pages.zero_pages;
            result.bytes = c.bytes;
        } catch (const std::exception& e) {
            frozen.thaw();
            ::unlink(path.c_str());  // no half-written file is left to be restored
            if (const auto* api = dynamic_cast<const ApiError*>(&e)) throw *api;
            throw ApiError(
                "EIO", "saving domain " + std::to_string(domid) + " to " + path + ": " + e.what());
        }
        if (!keep_running) {
            frozen.keep_frozen();
            teardown(*md);
        }
    }
    if (!keep_running) remove(md);
    result.ms = ms_since(t0);
    log_.domain(md->domain->name(), domid,
                std::string(keep_running ? "saved (still running) to " : "saved to ") + path +
                    ": " + std::to_string(result.bytes) + " bytes in " + std::to_string(result.ms) +
                    " ms");
    return result;
}

RestoreResult DomainManager::restore(const RestoreRequest& request) {
    const std::string path = launch::resolve_target(request.file, request.cwd);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) file_error(path, "cannot open the save file", errno);
    state::FdSource source(fd.get());
    RestoreResult result = restore_from(source, path, request.paused);
    log_.domain(result.name, result.domid,
                std::string(request.paused ? "restored paused" : "restored") + " from " + path +
                    " in " + std::to_string(result.ms) + " ms");
    return result;
}

RestoreResult DomainManager::restore_from(state::ByteSource& source, const std::string& label,
                                          bool paused) {
    const auto t0 = std::chrono::steady_clock::now();
    auto refuse = [&label](const std::string& why) -> ApiError {
        return ApiError("EINVAL", label + ": " + why);
    };
    std::optional<state::DomainRestore> stream;
    SavedConfig saved;
    try {
        stream.emplace(source);
        if (stream->config().empty())
            throw Error("it carries no toolstack config: it was not made by xn save");
        saved = parse_saved_config(stream->config());
    } catch (const Error& e) {
        throw refuse(e.what());
    }
    auto md = std::make_shared<ManagedDomain>();
    md->config_name = saved.config_name;
    md->config_text = saved.config_text;
    md->overrides = saved.overrides;
    md->cwd = saved.cwd;
    md->kernel_path = saved.kernel_path;
    md->ramdisk_path = saved.ramdisk_path;
    md->restarts = saved.restarts;
    md->cfg = config_for_restore(saved, label);
    hv::DomainParams params = launch::domain_params(md->cfg);
    if (md->cfg.pool) params.pool = hv_.scheduling().pool_id(*md->cfg.pool);
    if (saved.domid > 0 && saved.domid < DOMID_FIRST_RESERVED)
        params.preferred_id = static_cast<domid_t>(saved.domid);
    state::RestoredDomain rd;
    try {
        rd = stream->restore(hv_, params);
    } catch (const Error& e) {
        throw refuse(e.what());
    }
    md->domain = rd.domain;
    launch_domain(
        md, [&] { connect_restored(*md, rd, saved); }, [&] { md->domain->start_restored(paused); });
    RestoreResult result;
    result.domid = md->domid();
    result.name = md->cfg.name;
    result.pages = rd.pages.pages;
    result.zero_pages = rd.pages.zero_pages;
    result.ms = ms_since(t0);
    return result;
}

// The config as the domain was created, under its name and uuid now; checked as `xn
// create` checks one, and refused if the name is taken.
xlcfg::DomainConfig DomainManager::config_for_restore(const SavedConfig& saved,
                                                      const std::string& path) {
    xlcfg::DomainConfig cfg;
    try {
        xlcfg::Config config = xlcfg::Config::parse(saved.config_text, saved.config_name);
        for (const auto& o : saved.overrides) config.apply_override(o);
        config.apply_override("uuid=\"" + saved.uuid + "\"");
        cfg = xlcfg::to_domain_config(config);
    } catch (const xlcfg::ConfigError& e) {
        throw ApiError("EINVAL", path + ": the saved config: " + e.what());
    }
    std::string why;
    if (!xlcfg::valid_domain_name(saved.name, why))
        throw ApiError("EINVAL", path + ": the saved name: " + why);
    cfg.name = saved.name;
    try {
        cfg.disk_configs.clear();
        for (const std::string& spec : saved.disks)
            cfg.disk_configs.push_back(xlcfg::parse_disk_spec({spec, xlcfg::Position{path, 0, 0}}));
        cfg.vif_configs.clear();
        for (const std::string& spec : saved.vifs)
            cfg.vif_configs.push_back(xlcfg::parse_vif_spec({spec, xlcfg::Position{path, 0, 0}}));
    } catch (const xlcfg::ConfigError& e) {
        throw ApiError("EINVAL", path + ": the saved devices: " + e.what());
    }
    if (cfg.type != xlcfg::DomainType::Pv)
        throw ApiError("EOPNOTSUPP", path + ": only PV domains can be restored yet");
    check_new_domain(cfg, saved.config_name);
    return cfg;
}

// The restored domain's backends at the rings and ports its saved self used.
void DomainManager::connect_restored(ManagedDomain& md, const state::RestoredDomain& rd,
                                     const SavedConfig& saved) {
    if (md.domain->nr_vcpus() != md.cfg.maxvcpus)
        throw ApiError("EINVAL", "the stream's vCPU count does not match its config's maxvcpus");
    if (!rd.store) throw ApiError("EINVAL", "the stream carries no store state (XENSTORE record)");
    md.hub = open_hub(md.cfg.name);
    std::shared_ptr<ConsoleHub> hub = md.hub;
    auto sink = [hub](std::string_view text) { hub->output(text); };
    md.domain->set_console(sink);
    md.guest.layout.console_ring = rd.console.ring_gpa;
    md.guest.layout.console_port = rd.console.port;
    md.guest.layout.store_ring = rd.store->ring_gpa;
    md.guest.layout.store_port = rd.store->port;
    md.guest.console = std::make_unique<backends::ConsoleBackend>(md.domain, rd.console.port, sink);
    md.guest.store = launch::StoreEntry(&store_, md.domain->id());
    store_.restore_domain(*md.domain, rd.store->ring_gpa, rd.store->port, rd.store->state);
    md.guest.devices = std::make_unique<launch::DeviceSet>(store_.backends(), store_.backend_log());
    attach_devices(md, true);
    md.target_kib = saved.target_kib;
    md.max_kib = saved.max_kib;
    md.online_vcpus = saved.online_vcpus;
}

}  // namespace xenolith::daemon
