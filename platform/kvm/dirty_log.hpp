// platform::DirtyLog on KVM: the dirty log of the RAM memory slots (RamLayout::log_dirty).
// KVM_GET_DIRTY_LOG without manual protection write-protects the pages it reports again
// before it returns, so each collect() begins the next interval in the same call.
#pragma once

#include <span>

#include "platform/kvm/ram_layout.hpp"
#include "platform/platform.hpp"

namespace xenolith::kvm {

class KvmDirtyLog final : public platform::DirtyLog {
  public:
    // Throws Error when RAM cannot be logged (see RamLayout::log_dirty).
    explicit KvmDirtyLog(RamLayout& ram);
    ~KvmDirtyLog() override;
    KvmDirtyLog(const KvmDirtyLog&) = delete;
    KvmDirtyLog& operator=(const KvmDirtyLog&) = delete;

    void collect(std::span<uint64_t> bitmap) override { ram_.collect_dirty(bitmap); }
    const char* mechanism() const override { return "kvm-dirty-log"; }

  private:
    RamLayout& ram_;
};

}  // namespace xenolith::kvm
