#include "boot/image_bytes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "base/error.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::boot {

std::vector<uint8_t> read_image_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw SystemError(path + ": cannot open the " + what, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw SystemError(path + ": cannot stat the " + what, errno);
    if (!S_ISREG(st.st_mode)) throw Error(path + ": the " + what + " is not a regular file");
    if (static_cast<uint64_t>(st.st_size) > max_bytes)
        throw Error(path + ": the " + what + " is " + std::to_string(st.st_size) + " bytes, larger than the " +
                    std::to_string(max_bytes >> 20) + " MiB " + (what == "kernel image" ? "limit" : "it must fit in"));
    std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SystemError(path + ": cannot read the " + what, errno);
        if (n == 0) break;  // the file shrank while we read it; the parser sees what is left
        done += static_cast<size_t>(n);
    }
    bytes.resize(done);
    return bytes;
}

std::string hex(uint64_t value) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, value);
    return buf;
}

}  // namespace xenolith::boot
