#include "base/error.hpp"

#include <cerrno>
#include <cstring>

namespace xenolith {

SystemError::SystemError(const std::string& what, int err)
    : Error(what + ": " + std::strerror(err)), code_(err) {}

long check_syscall(long rc, const char* what) {
    if (rc < 0) throw SystemError(what, errno);
    return rc;
}

}  // namespace xenolith
