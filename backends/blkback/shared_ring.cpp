#include "backends/blkback/shared_ring.hpp"

#include <sys/mman.h>

#include <cerrno>

#include "base/error.hpp"

namespace xenolith::blkback {

SharedRing::SharedRing(hv::Domain& domain, std::span<const grant_ref_t> refs, uint32_t max_order,
                       const std::string& name) {
    size_t n = refs.size();
    if (n == 0 || (n & (n - 1)) != 0 || n > (size_t{1} << max_order))
        throw Error(name + ": the frontend offers " + std::to_string(n) +
                    " ring pages; a power of two up to " + std::to_string(1u << max_order) +
                    " is needed");
    window_ =
        Mapping::map(-1, n * hv::kPageSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
    hv::GuestMemory& memory = domain.memory();
    for (size_t i = 0; i < n; ++i) {
        hv::GrantMapping pin = domain.grant_table().map(refs[i], 0, false);
        if (!pin)
            throw Error(name + ": ring-ref " + std::to_string(refs[i]) +
                        " cannot be mapped (GNTST " + std::to_string(pin.status()) + ")");
        // Granted pages lie in RAM, which is the memfd from offset 0 on.
        auto gpa = static_cast<off_t>(pin.writable_page().data() - memory.base());
        void* at = window_.data() + i * hv::kPageSize;
        if (::mmap(at, hv::kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memory.fd(),
                   gpa) == MAP_FAILED)
            throw SystemError(name + ": mapping ring page " + std::to_string(i), errno);
        pins_.push_back(std::move(pin));
    }
}

}  // namespace xenolith::blkback
