// Errors reported to people: one clear sentence naming the file, line or value at fault.
// Hypercall paths never throw; they return negative Xen errno values instead.
#pragma once

#include <stdexcept>
#include <string>

namespace xenolith {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// An error from a system call: the message ends with strerror(errno).
class SystemError : public Error {
public:
    SystemError(const std::string& what, int err);
    int code() const { return code_; }

private:
    int code_;
};

// Throws SystemError(what, errno) when rc < 0, else returns rc.
long check_syscall(long rc, const char* what);

}  // namespace xenolith
