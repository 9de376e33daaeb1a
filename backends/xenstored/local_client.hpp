// A privileged client inside the hypervisor process: the toolstack's own handle on the
// store (what libxl's xs_open is to Xen's xl). One request at a time over a Connection, the
// reply read straight back from its output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "backends/xenstored/connection.hpp"

namespace xenolith::xenstored {

class Xenstored;

class LocalClient {
public:
    explicit LocalClient(Xenstored& daemon);

    // The reply's payload; throws Error "xenstore <OP> <path>: <ERRNAME>" on XS_ERROR.
    std::string request(uint32_t type, std::string_view payload);
    std::string read(std::string_view path);
    void write(std::string_view path, std::string_view value);
    void mkdir(std::string_view path);
    void rm(std::string_view path);
    // `perms` in Xen's text form, e.g. {"n0", "r5"}: owner 0 with no access for others,
    // domain 5 may read.
    void set_perms(std::string_view path, std::initializer_list<std::string_view> perms);
    void introduce(uint32_t domid, uint64_t ring_frame, uint32_t port);
    void release(uint32_t domid);

private:
    Connection conn_;
    uint32_t next_id_ = 0;
};

}  // namespace xenolith::xenstored
