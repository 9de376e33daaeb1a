// __HYPERVISOR_console_io: the emergency console. Output goes to the domain's console sink;
// input comes from what the host fed the domain.
#include "abi/xen.hpp"

#include <algorithm>
#include <vector>

#include "hv/domain.hpp"
#include "hv/hypercall.hpp"

namespace xenolith::hv {

namespace {
// One call may carry at most this much: a guest cannot pin its vCPU thread on a giant copy.
constexpr uint64_t kMaxConsoleWrite = 1 << 20;
constexpr size_t kChunk = 4096;
}  // namespace

long do_console_io(HypercallContext& ctx, const HypercallArgs& a) {
    const uint64_t cmd = a[0], count = a[1], buffer = a[2];
    switch (cmd) {
        case CONSOLEIO_write: {
            if (count > kMaxConsoleWrite) return -XEN_EINVAL;
            uint8_t chunk[kChunk];
            for (uint64_t done = 0; done < count;) {
                size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, count - done));
                if (!ctx.guest.copy_from({chunk, n}, buffer + done)) return -XEN_EFAULT;
                ctx.domain.console_write({reinterpret_cast<const char*>(chunk), n});
                done += n;
            }
            return 0;
        }
        case CONSOLEIO_read: {
            if (count > kMaxConsoleWrite) return -XEN_EINVAL;
            std::string in = ctx.domain.console_read(static_cast<size_t>(count));
            if (!ctx.guest.copy_to(buffer, {reinterpret_cast<const uint8_t*>(in.data()), in.size()})) {
                ctx.domain.console_input(in);  // give the bytes back rather than lose them
                return -XEN_EFAULT;
            }
            return static_cast<long>(in.size());
        }
        default: return -XEN_ENOSYS;
    }
}

}  // namespace xenolith::hv
