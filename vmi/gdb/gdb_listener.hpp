// Where gdb connects: "tcp:HOST:PORT" (HOST an address or a name; PORT 0 picks one) or
// "unix:PATH". One connection is served at a time.
#pragma once

#include <string>

#include "base/unique_fd.hpp"
#include "vmi/gdb/gdb_server.hpp"

namespace xenolith::vmi::gdb {

class GdbListener {
  public:
    // Binds and listens. Throws Error naming the endpoint when it is malformed or taken.
    explicit GdbListener(const std::string& endpoint);
    ~GdbListener();
    GdbListener(const GdbListener&) = delete;
    GdbListener& operator=(const GdbListener&) = delete;

    // The endpoint as bound: for tcp with port 0, the port the kernel chose.
    const std::string& endpoint() const { return endpoint_; }

    // Waits for gdb to connect. Throws SystemError when accept fails.
    UniqueFd accept();

  private:
    UniqueFd fd_;
    std::string endpoint_;
    std::string unix_path_;  // removed again when the listener goes
};

// Listens on `endpoint`, serves the first gdb that connects until its session ends.
GdbServer::End listen_and_serve(const std::string& endpoint, Target& target);

}  // namespace xenolith::vmi::gdb
