// Unix stream sockets by path: the listening side replaces a stale socket file and sets
// the file's mode; the connecting side reports "nobody there" distinctly, so callers can
// tell a daemon that is not running from one that is broken.
#pragma once

#include <string>

#include "base/unique_fd.hpp"

namespace xenolith {

// Binds and listens on `path` (backlog `backlog`), chmod `mode`. Throws Error naming the path.
UniqueFd listen_unix(const std::string& path, unsigned mode, int backlog = 128);

// Connects to `path`. Returns an invalid fd with `err` set to ENOENT or ECONNREFUSED when no
// one listens there; throws SystemError for anything else (a path too long, EACCES, ...).
UniqueFd connect_unix(const std::string& path, int& err);

// Writes all of `data` (retrying short writes and EINTR; never raises SIGPIPE). False when
// the peer has gone.
bool write_all(int fd, const void* data, size_t size);

}  // namespace xenolith
