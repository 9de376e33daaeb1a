// Live migration's pre-copy (docs/domain-stream.md, "Live migration"): a running domain's
// RAM sent once, then the pages written meanwhile, round after round, until what is left is
// small enough to send with the domain paused. Written pages are the union of two logs:
// the guest's own writes (the platform's DirtyLog: KVM's dirty log, or userfaultfd
// write-protection of the stub) and the host's writes on its behalf (hv::PageLog: grant
// copies and mappings, hypercall results, shared_info and the vcpu_infos).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "hv/domain.hpp"
#include "platform/platform.hpp"
#include "state/domain_save.hpp"

namespace xenolith::state {

// When pre-copy stops. Xen's libxc stops after 5 rounds or at 50 dirty pages; here the
// last round is sized by time instead, from the rate the previous rounds achieved.
struct PrecopyPolicy {
    uint32_t max_rounds = 10;  // counting the first, whole-RAM one
    std::chrono::milliseconds target_downtime{10};
    uint64_t min_stop_pages = 50;  // always small enough (Xen's SPP_TARGET_DIRTY_COUNT)
    double max_sent_factor = 3.0;  // give up converging once this many RAMs were sent
};

struct PrecopyRound {
    uint32_t round = 0;    // 0: the whole of RAM
    uint64_t to_send = 0;  // pages, known as the round begins
    bool ended = false;    // the report as the round ends (else as it begins)
    PageCounts sent;
    uint64_t dirty = 0;  // pages written while this round was sent: the next round's
    uint64_t ms = 0;
};

class Precopy {
  public:
    // Heard as each round begins (`sent`, `dirty` and `ms` still 0) and as it ends.
    using Progress = std::function<void(const PrecopyRound&)>;
    // Starts both logs. Throws Error, with the platform's reason, when the guest's writes
    // cannot be logged here. The domain may run.
    explicit Precopy(hv::Domain& domain);
    ~Precopy();
    Precopy(const Precopy&) = delete;
    Precopy& operator=(const Precopy&) = delete;

    // Sends all of RAM, then the pages written meanwhile, until the policy says stop.
    // The domain runs throughout. `catch_up`, when given, runs after each round is sent and
    // before its written pages are taken: a migration waits there for the receiver to
    // apply what it was sent, so that the pause does not wait for a backlog.
    void run(DomainSaver& saver, const PrecopyPolicy& policy, const Progress& progress = {},
             const std::function<void()>& catch_up = {});
    // Once the domain is paused and the saver stopped (its vCPUs parked): the pages
    // written since the last round, the final round of a live migration.
    PageCounts last_round(DomainSaver& saver);
    const char* mechanism() const { return guest_log_->mechanism(); }
    uint32_t rounds() const { return rounds_; }

  private:
    std::vector<uint64_t> take_written();

    hv::Domain& domain_;
    std::unique_ptr<platform::DirtyLog> guest_log_;
    std::vector<uint64_t> bitmap_;
    uint32_t rounds_ = 0;
    // Written during the last pre-copy round and not sent yet: the last round's too.
    std::vector<uint64_t> pending_;
};

}  // namespace xenolith::state
