#include "toolstack/daemon/frozen_domain.hpp"

#include <utility>

#include "base/error.hpp"
#include "toolstack/api/protocol.hpp"
#include "toolstack/daemon/saved_config.hpp"
#include "toolstack/launch/disk_device.hpp"
#include "toolstack/xlcfg/disk_spec.hpp"
#include "toolstack/xlcfg/vif_spec.hpp"

namespace xenolith::daemon {

using api::ApiError;

namespace {

SavedConfig saved_config_of(const ManagedDomain& md) {
    SavedConfig c;
    c.config_name = md.config_name;
    c.config_text = md.config_text;
    c.overrides = md.overrides;
    c.cwd = md.cwd;
    c.kernel_path = md.kernel_path;
    c.ramdisk_path = md.ramdisk_path;
    c.domid = md.domid();
    c.name = md.domain->name();
    c.uuid = hv::uuid_to_string(md.domain->uuid());
    c.target_kib = md.target_kib;
    c.max_kib = md.max_kib;
    c.online_vcpus = md.online_vcpus;
    c.restarts = md.restarts;
    for (xlcfg::DiskConfig disk : md.cfg.disk_configs) {
        disk.target = launch::resolve_target(disk.target, md.cwd);
        c.disks.push_back(xlcfg::disk_spec_text(disk));
    }
    for (const xlcfg::VifConfig& vif : md.cfg.vif_configs)
        c.vifs.push_back(xlcfg::vif_spec_text(vif));
    return c;
}

}  // namespace

std::string toolstack_config(const ManagedDomain& md) {
    return saved_config_json(saved_config_of(md));
}

void require_savable(const ManagedDomain& md) {
    const std::string who = "domain " + std::to_string(md.domid());
    const hv::DomainState s = md.domain->state();
    if (s == hv::DomainState::Shutdown || s == hv::DomainState::Crashed ||
        s == hv::DomainState::Dying)
        throw ApiError("EINVAL", who + " has stopped; there is nothing to save");
    if (md.domain->is_pvh())
        throw ApiError("EOPNOTSUPP", who + " is PVH: only PV domains can be saved yet");
    if (!md.guest.console) throw ApiError("EINVAL", who + " has no console backend");
    // Its breakpoints are bytes in its RAM and would travel with it, with no debugger there.
    for (uint32_t i = 0; i < md.domain->nr_vcpus(); ++i)
        if (md.domain->vcpu(i).debugged())
            throw ApiError("EBUSY",
                           who + " is being debugged (xn debug): detach the debugger first");
}

FrozenDomain::FrozenDomain(ManagedDomain& md, launch::StoreService& store)
    : md_(md), store_(store), was_paused_(md.domain->paused()) {
    toolstack_.config = toolstack_config(md_);  // before anything changes
    md_.domain->pause();
    md_.guest.console->drain();  // what the guest wrote is shown once, not again by the copy
    try {
        if (md_.guest.devices) md_.guest.devices->quiesce_all();
    } catch (const Error& e) {
        if (!was_paused_) md_.domain->unpause();
        throw ApiError("EIO", "domain " + std::to_string(md_.domid()) + ": " + e.what());
    }
    toolstack_.store = state::StoreRecord{md_.guest.layout.store_ring, md_.guest.layout.store_port,
                                          store_.hold_domain(md_.domain->id())};
}

FrozenDomain::~FrozenDomain() {
    if (!released_) thaw();
}

state::ConsoleInfo FrozenDomain::console() const {
    return {md_.guest.layout.console_ring, md_.guest.layout.console_port};
}

state::SaveCounts FrozenDomain::write(state::ByteSink& out) const {
    return state::save_domain(*md_.domain, console(), out, toolstack_);
}

void FrozenDomain::thaw() {
    if (std::exchange(released_, true)) return;
    store_.resume_domain(md_.domain->id());
    if (md_.guest.devices) md_.guest.devices->resume_all();
    if (!was_paused_) md_.domain->unpause();
}

void FrozenDomain::keep_frozen() {
    released_ = true;
}

}  // namespace xenolith::daemon
