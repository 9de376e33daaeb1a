// A disk image file for the tests: created in the temp directory with a known size and a
// byte pattern (byte i of the file is pattern_byte(i)), removed on destruction.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::blkback::testing {

inline uint8_t pattern_byte(uint64_t offset) {
    return static_cast<uint8_t>((offset * 7 + offset / 4096) & 0xff);
}

class TempImage {
  public:
    explicit TempImage(uint64_t bytes) {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "xenolith-blk-XXXXXX").string();
        int fd = ::mkstemp(tmpl.data());
        if (fd < 0) throw SystemError("mkstemp", errno);
        path_ = tmpl;
        UniqueFd owner(fd);
        std::vector<uint8_t> buf(bytes);
        for (uint64_t i = 0; i < bytes; ++i) buf[i] = pattern_byte(i);
        if (::pwrite(fd, buf.data(), buf.size(), 0) != static_cast<ssize_t>(buf.size()))
            throw SystemError("pwrite", errno);
    }
    ~TempImage() { ::unlink(path_.c_str()); }
    TempImage(const TempImage&) = delete;
    TempImage& operator=(const TempImage&) = delete;

    const std::string& path() const { return path_; }
    std::vector<uint8_t> read(uint64_t offset, size_t len) const {
        std::vector<uint8_t> out(len);
        UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
        if (::pread(fd.get(), out.data(), len, static_cast<off_t>(offset)) !=
            static_cast<ssize_t>(len))
            out.clear();
        return out;
    }
    // 512-byte blocks the file occupies on disk.
    uint64_t allocated_blocks() const {
        struct stat st {};
        ::stat(path_.c_str(), &st);
        return static_cast<uint64_t>(st.st_blocks);
    }

  private:
    std::string path_;
};

}  // namespace xenolith::blkback::testing
