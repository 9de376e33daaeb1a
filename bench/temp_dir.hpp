// A private temporary directory for a benchmark's files (disk images, saved domains),
// removed with its contents when it goes, so that a failed figure leaves nothing behind.
#pragma once

#include <errno.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "base/error.hpp"

namespace xenolith::bench {

class TempDir {
  public:
    // `prefix`-XXXXXX under `parent`; by default the system's temporary directory ($TMPDIR,
    // else /tmp).
    explicit TempDir(const std::string& prefix,
                     const std::filesystem::path& parent = std::filesystem::temp_directory_path()) {
        std::string tmpl = parent / (prefix + "-XXXXXX");
        if (!::mkdtemp(tmpl.data())) throw SystemError("mkdtemp " + tmpl, errno);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

}  // namespace xenolith::bench
