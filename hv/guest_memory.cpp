#include "hv/guest_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include "base/error.hpp"

namespace xenolith::hv {

GuestMemory::GuestMemory(const std::string& name, uint64_t size)
    : size_(size), written_(size / kPageSize) {
    if (size == 0 || size % kPageSize != 0)
        throw Error("guest memory size " + std::to_string(size) +
                    " is not a whole number of pages");
    fd_.reset(
        static_cast<int>(check_syscall(::memfd_create(name.c_str(), MFD_CLOEXEC), "memfd_create")));
    check_syscall(::ftruncate(fd_.get(), static_cast<off_t>(size)), "ftruncate guest memory");
    // MAP_NORESERVE: pages are committed when the guest first touches them.
    map_ = Mapping::map(fd_.get(), size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE);
}

}  // namespace xenolith::hv
