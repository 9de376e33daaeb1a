// Guest RAM as KVM memory slots, with the pages whose writes are watched (page-write events,
// platform::Vm::watch_writes) in read-only slots: a guest write there exits as
// KVM_EXIT_MMIO with the address and the data, which the platform turns into
// DebugExit::Write and, when the write is let through, copies into RAM itself.
//
// Unwatched, RAM is one slot (slot 0). Watching re-lays the slots: every RAM slot is
// deleted and the runs of watched and unwatched pages made again, so it may happen only
// while every vCPU is out of KVM_RUN (the seam's rule), or a vCPU would meet a hole.
//
// Live migration's dirty log (platform::DirtyLog) is KVM_MEM_LOG_DIRTY_PAGES on the RAM
// slots. Only one of the two at a time: a log over a re-laid slot would lose its pages, and
// KVM logs no writes to a read-only slot anyway.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <span>
#include <vector>

#include "platform/kvm/vm.hpp"

namespace xenolith::kvm {

// One KVM slot's worth of RAM: [start, end), read-only where watched.
struct RamRun {
    uint64_t start = 0, end = 0;
    bool read_only = false;
    bool operator==(const RamRun&) const = default;
};
// The runs RAM of `size` bytes is laid out in: pages alike together, in order, covering it
// all; `watched` holds page addresses below `size`.
std::vector<RamRun> ram_runs(const std::set<uint64_t>& watched, uint64_t size);

class RamLayout {
  public:
    // RAM at guest-physical 0: `size` bytes at `host`.
    RamLayout(Vm& vm, uint8_t* host, uint64_t size);

    // Watches or releases the pages [gpa, gpa+len) touches. Throws Error when the range is
    // not RAM, KVM has no read-only slots here, or a dirty log runs.
    void watch(uint64_t gpa, uint64_t len, bool on);
    // Any thread (vCPU threads decoding an exit).
    bool watched(uint64_t gpa) const;
    bool in_ram(uint64_t gpa, uint64_t len) const { return gpa < size_ && len <= size_ - gpa; }
    // Stores what a write exit carried, as the guest's instruction would have.
    void write(uint64_t gpa, const uint8_t* data, uint64_t len) const;

    // Starts (or ends) KVM's dirty logging on the RAM slots, which stay mapped: vCPUs may
    // run. Throws Error when starting while pages are watched or a log already runs.
    void log_dirty(bool on);
    // ORs into `bitmap` the pages KVM logged since the last call (platform::DirtyLog).
    void collect_dirty(std::span<uint64_t> bitmap);

  private:
    void relayout();
    void set_slot_flags(uint32_t flags);

    Vm& vm_;
    uint8_t* const host_;
    const uint64_t size_;
    mutable std::mutex mutex_;
    std::set<uint64_t> watched_;  // page addresses
    std::vector<MemorySlot> slots_;
    bool logging_ = false;
    std::vector<uint64_t> slot_bits_;  // collect_dirty()'s buffer, kept between calls
};

}  // namespace xenolith::kvm
