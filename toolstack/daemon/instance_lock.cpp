#include "toolstack/daemon/instance_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/error.hpp"

namespace xenolith::daemon {

InstanceLock::InstanceLock(std::string path) : path_(std::move(path)) {
    fd_.reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd_) throw SystemError("cannot open " + path_, errno);
    if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) throw SystemError("cannot lock " + path_, errno);
        char buf[32] = {};
        ssize_t n = ::pread(fd_.get(), buf, sizeof buf - 1, 0);
        std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        throw Error("xenolithd is already running (pid " + pid + ", lock " + path_ + ")");
    }
    write_pid();
}

InstanceLock::~InstanceLock() {
    // Unlinked while still locked: a new daemon starting now creates a fresh file.
    ::unlink(path_.c_str());
}

void InstanceLock::write_pid() {
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_.get(), 0) != 0 || ::pwrite(fd_.get(), pid.data(), pid.size(), 0) < 0)
        throw SystemError("cannot write " + path_, errno);
}

}  // namespace xenolith::daemon
