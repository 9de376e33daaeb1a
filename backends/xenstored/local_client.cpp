#include "backends/xenstored/local_client.hpp"

#include <cstring>

#include "backends/xenstored/wire.hpp"
#include "backends/xenstored/xenstored.hpp"
#include "base/error.hpp"

namespace xenolith::xenstored {

LocalClient::LocalClient(Xenstored& daemon) : conn_(daemon, 0, true) {}

std::string LocalClient::request(uint32_t type, std::string_view payload) {
    uint32_t id = ++next_id_;
    std::string msg = encode_message(type, id, 0, payload);
    if (conn_.feed(msg) != msg.size())
        throw Error("xenstore " + std::string(type_name(type)) + ": request not taken");
    // This connection holds no watches, so its output is exactly the one reply.
    std::string out = conn_.take_output();
    xsd_sockmsg h;
    if (out.size() < kHeaderSize) throw Error("xenstore " + std::string(type_name(type)) + ": no reply");
    std::memcpy(&h, out.data(), kHeaderSize);
    std::string reply = out.substr(kHeaderSize, h.len);
    if (h.type == XS_ERROR) {
        std::string path(split_strings(payload).empty() ? std::string_view() : split_strings(payload)[0]);
        if (!reply.empty() && reply.back() == '\0') reply.pop_back();
        throw Error("xenstore " + std::string(type_name(type)) + " " + path + ": " + reply);
    }
    return reply;
}

namespace {
std::string with_nul(std::string_view s) { return std::string(s) + '\0'; }
}  // namespace

std::string LocalClient::read(std::string_view path) { return request(XS_READ, with_nul(path)); }

void LocalClient::write(std::string_view path, std::string_view value) {
    request(XS_WRITE, with_nul(path) + std::string(value));
}

void LocalClient::mkdir(std::string_view path) { request(XS_MKDIR, with_nul(path)); }

void LocalClient::rm(std::string_view path) { request(XS_RM, with_nul(path)); }

void LocalClient::set_perms(std::string_view path, std::initializer_list<std::string_view> perms) {
    std::string payload = with_nul(path);
    for (auto p : perms) payload += with_nul(p);
    request(XS_SET_PERMS, payload);
}

void LocalClient::introduce(uint32_t domid, uint64_t ring_frame, uint32_t port) {
    request(XS_INTRODUCE, with_nul(std::to_string(domid)) + with_nul(std::to_string(ring_frame)) +
                              with_nul(std::to_string(port)));
}

void LocalClient::release(uint32_t domid) { request(XS_RELEASE, with_nul(std::to_string(domid))); }

}  // namespace xenolith::xenstored
