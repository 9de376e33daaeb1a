// A minimal DHCP server on lwIP's raw UDP API, enough to prove the stack's DHCP client:
// it answers DISCOVER with OFFER and REQUEST with ACK, always for the one address it was
// given (with a netmask, itself as router and server id, and a one-hour lease).
#pragma once

#include <pumice/net.hpp>

#include "lwip/prot/dhcp.h"
#include "lwip/udp.h"

namespace nettest {

class DhcpServer {
  public:
    DhcpServer(pumice::net::Interface& interface, pumice::net::Ipv4Address offer,
               pumice::net::Ipv4Address netmask);
    ~DhcpServer();
    DhcpServer(const DhcpServer&) = delete;
    DhcpServer& operator=(const DhcpServer&) = delete;
    // Binds UDP port 67 on the interface; false when lwIP refuses.
    bool start();
    unsigned offers() const { return offers_; }
    unsigned acks() const { return acks_; }

  private:
    static void on_receive(void* self, udp_pcb* pcb, pbuf* p, const ip_addr_t* addr, u16_t port);
    void handle(const dhcp_msg& request, size_t len);
    void reply(const dhcp_msg& request, uint8_t type);

    pumice::net::Interface& interface_;
    pumice::net::Ipv4Address offer_;
    pumice::net::Ipv4Address netmask_;
    udp_pcb* pcb_ = nullptr;
    unsigned offers_ = 0;
    unsigned acks_ = 0;
};

}  // namespace nettest
