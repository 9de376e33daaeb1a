// A domain held still while its state is read (xn save, xn migrate): paused, its console
// drained, its backends quiesced and its store ring held, with the toolstack's part of the
// stream (config, store state) taken. thaw() lets it carry on as it was; destroying a
// FrozenDomain that was neither thawed nor kept frozen thaws it.
#pragma once

#include "state/domain_save.hpp"
#include "toolstack/daemon/managed_domain.hpp"
#include "toolstack/launch/store_service.hpp"

namespace xenolith::daemon {

// What cannot be saved yet is refused before the domain is touched (ApiError EINVAL for a
// domain that has stopped, EOPNOTSUPP for PVH, EBUSY while a debugger is attached).
void require_savable(const ManagedDomain& md);

// The toolstack's config record (XL_CONFIG) for md as it is now.
std::string toolstack_config(const ManagedDomain& md);

class FrozenDomain {
  public:
    // md's op_mutex is held by the caller. Throws ApiError EIO when a backend cannot
    // quiesce (the domain then runs on).
    FrozenDomain(ManagedDomain& md, launch::StoreService& store);
    ~FrozenDomain();
    FrozenDomain(const FrozenDomain&) = delete;
    FrozenDomain& operator=(const FrozenDomain&) = delete;

    // The whole stream (state::save_domain). Throws what the sink or the save throws.
    state::SaveCounts write(state::ByteSink& out) const;
    // The parts of the stream the toolstack keeps, as of the freeze (live migration writes
    // the rest itself).
    state::ConsoleInfo console() const;
    const state::ToolstackState& toolstack() const { return toolstack_; }
    void thaw();
    // The domain is being destroyed (saved, or moved to another host): stay as it is.
    void keep_frozen();

  private:
    ManagedDomain& md_;
    launch::StoreService& store_;
    const bool was_paused_;
    state::ToolstackState toolstack_;
    bool released_ = false;
};

}  // namespace xenolith::daemon
