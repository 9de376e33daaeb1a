#include "base/mapping.hpp"

#include <cerrno>

#include "base/error.hpp"

namespace xenolith {

Mapping Mapping::map(int fd, size_t size, int prot, int flags, off_t offset) {
    void* addr = ::mmap(nullptr, size, prot, flags, fd, offset);
    if (addr == MAP_FAILED) throw SystemError("mmap", errno);
    return Mapping(addr, size);
}

}  // namespace xenolith
