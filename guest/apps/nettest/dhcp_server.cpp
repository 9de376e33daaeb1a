#include "nettest/dhcp_server.hpp"

#include <pumice/pumice.hpp>

namespace nettest {

using pumice::net::Ipv4Address;

namespace {

constexpr u16_t kServerPort = 67;
constexpr u16_t kClientPort = 68;
constexpr uint8_t kHardwareEthernet = 1;
constexpr uint32_t kLeaseSeconds = 3600;
// The fixed part of a DHCP message, before the options.
constexpr size_t kFixedLen = offsetof(dhcp_msg, options);

// The DHCP message type (option 53) among `len` bytes of options; 0 if absent or malformed.
uint8_t message_type(const uint8_t* options, size_t len) {
    for (size_t i = 0; i < len;) {
        uint8_t code = options[i];
        if (code == DHCP_OPTION_END) break;
        if (code == DHCP_OPTION_PAD) {
            ++i;
            continue;
        }
        if (i + 1 >= len || i + 2 + options[i + 1] > len) break;
        if (code == DHCP_OPTION_MESSAGE_TYPE && options[i + 1] == 1) return options[i + 2];
        i += 2 + options[i + 1];
    }
    return 0;
}

// Appends option `code` with a 32-bit value in network order.
uint8_t* put_u32_option(uint8_t* out, uint8_t code, uint32_t value) {
    *out++ = code;
    *out++ = 4;
    for (int shift = 24; shift >= 0; shift -= 8) *out++ = static_cast<uint8_t>(value >> shift);
    return out;
}

}  // namespace

DhcpServer::DhcpServer(pumice::net::Interface& interface, Ipv4Address offer, Ipv4Address netmask)
    : interface_(interface), offer_(offer), netmask_(netmask) {}

DhcpServer::~DhcpServer() {
    if (pcb_) udp_remove(pcb_);
}

bool DhcpServer::start() {
    pcb_ = udp_new();
    if (!pcb_) return false;
    udp_bind_netif(pcb_, interface_.lwip_netif());
    if (udp_bind(pcb_, IP4_ADDR_ANY, kServerPort) != ERR_OK) return false;
    udp_recv(pcb_, on_receive, this);
    return true;
}

void DhcpServer::on_receive(void* self, udp_pcb*, pbuf* p, const ip_addr_t*, u16_t) {
    dhcp_msg request{};
    size_t len = pbuf_copy_partial(p, &request, sizeof(request), 0);
    pbuf_free(p);
    static_cast<DhcpServer*>(self)->handle(request, len);
}

void DhcpServer::handle(const dhcp_msg& request, size_t len) {
    if (len < kFixedLen || request.op != DHCP_BOOTREQUEST || request.htype != kHardwareEthernet ||
        request.hlen != 6 || request.cookie != PP_HTONL(DHCP_MAGIC_COOKIE)) {
        return;
    }
    switch (message_type(request.options, len - kFixedLen)) {
        case DHCP_DISCOVER:
            ++offers_;
            reply(request, DHCP_OFFER);
            break;
        case DHCP_REQUEST:
            ++acks_;
            reply(request, DHCP_ACK);
            break;
        default:
            break;
    }
}

void DhcpServer::reply(const dhcp_msg& request, uint8_t type) {
    pbuf* p = pbuf_alloc(PBUF_TRANSPORT, sizeof(dhcp_msg), PBUF_RAM);
    if (!p) return;
    dhcp_msg& msg = *static_cast<dhcp_msg*>(p->payload);
    memset(&msg, 0, sizeof(msg));
    msg.op = DHCP_BOOTREPLY;
    msg.htype = kHardwareEthernet;
    msg.hlen = 6;
    msg.xid = request.xid;
    msg.flags = request.flags;
    Ipv4Address self = interface_.address();
    msg.yiaddr.addr = lwip_htonl(offer_.host_order());
    msg.siaddr.addr = lwip_htonl(self.host_order());
    memcpy(msg.chaddr, request.chaddr, sizeof(msg.chaddr));
    msg.cookie = PP_HTONL(DHCP_MAGIC_COOKIE);
    uint8_t* out = msg.options;
    *out++ = DHCP_OPTION_MESSAGE_TYPE;
    *out++ = 1;
    *out++ = type;
    out = put_u32_option(out, DHCP_OPTION_SERVER_ID, self.host_order());
    out = put_u32_option(out, DHCP_OPTION_LEASE_TIME, kLeaseSeconds);
    out = put_u32_option(out, DHCP_OPTION_SUBNET_MASK, netmask_.host_order());
    out = put_u32_option(out, DHCP_OPTION_ROUTER, self.host_order());
    *out++ = DHCP_OPTION_END;
    // The client has no address yet: broadcast, as RFC 2131 allows for any client.
    udp_sendto_if(pcb_, p, IP4_ADDR_BROADCAST, kClientPort, interface_.lwip_netif());
    pbuf_free(p);
}

}  // namespace nettest
