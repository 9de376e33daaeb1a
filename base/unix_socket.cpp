#include "base/unix_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.hpp"

namespace xenolith {

namespace {

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path))
        throw Error("socket path '" + path + "' must be 1 to " +
                    std::to_string(sizeof(addr.sun_path) - 1) + " bytes long");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

}  // namespace

UniqueFd listen_unix(const std::string& path, unsigned mode, int backlog) {
    sockaddr_un addr = address_of(path);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw SystemError("socket for " + path, errno);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0)
        throw SystemError("cannot bind " + path, errno);
    if (::chmod(path.c_str(), mode) < 0) throw SystemError("cannot chmod " + path, errno);
    if (::listen(fd.get(), backlog) < 0) throw SystemError("cannot listen on " + path, errno);
    return fd;
}

UniqueFd connect_unix(const std::string& path, int& err) {
    sockaddr_un addr = address_of(path);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw SystemError("socket for " + path, errno);
    err = 0;
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
    err = errno;
    if (err == ENOENT || err == ECONNREFUSED) return UniqueFd();
    throw SystemError("cannot connect to " + path, err);
}

bool write_all(int fd, const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK) n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += n;
        size -= static_cast<size_t>(n);
    }
    return true;
}

}  // namespace xenolith
