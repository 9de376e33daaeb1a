#include "platform/kvm/dirty_log.hpp"

#include "base/error.hpp"

namespace xenolith::kvm {

KvmDirtyLog::KvmDirtyLog(RamLayout& ram) : ram_(ram) {
    ram_.log_dirty(true);
}

KvmDirtyLog::~KvmDirtyLog() {
    try {
        ram_.log_dirty(false);
    } catch (const Error&) {
        // KVM refused to drop the flag: the slot keeps logging, which costs the guest a
        // fault per page per collect() no one makes, but loses nothing.
    }
}

}  // namespace xenolith::kvm
