// One daemon per host: an exclusive flock on the pid file, held for the daemon's life.
// The kernel drops the lock when the process dies, so a crash leaves no stale lock.
#pragma once

#include <string>

#include "base/unique_fd.hpp"

namespace xenolith::daemon {

class InstanceLock {
public:
    // Throws Error "xenolithd is already running (pid N)" when another process holds it.
    explicit InstanceLock(std::string path);
    ~InstanceLock();
    InstanceLock(const InstanceLock&) = delete;
    InstanceLock& operator=(const InstanceLock&) = delete;

    // Records the pid now holding the lock (after --detach forks, the child's).
    void write_pid();

private:
    std::string path_;
    UniqueFd fd_;
};

}  // namespace xenolith::daemon
