// net::Interface: an lwIP Ethernet netif whose frames go to a Driver and come back through
// receive(); its IPv4 configuration, static or DHCP. Also the small value types of net.hpp.
#include <pumice/net.hpp>
#include <pumice/print.hpp>
#include <pumice/string.hpp>
#include <pumice/thread.hpp>
#include <pumice/time.hpp>
#include <pumice/xen.hpp>

#include "lwip/dhcp.h"
#include "lwip/etharp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/ethernet.h"

namespace pumice::net {

namespace {

// How often wait_for_address() looks: Pumice has no timed wait on a wait queue.
constexpr uint64_t kAddressPollNs = 10 * time::kNsPerMs;

ip4_addr_t to_lwip(Ipv4Address address) {
    ip4_addr_t out;
    ip4_addr_set_u32(&out, lwip_htonl(address.host_order()));
    return out;
}

Ipv4Address from_lwip(const ip4_addr_t* address) {
    return Ipv4Address::from_host_order(lwip_ntohl(ip4_addr_get_u32(address)));
}

}  // namespace

const char* Ipv4Address::format(char* buf, size_t size) const {
    snprintf(buf, size, "%u.%u.%u.%u", value_ >> 24, (value_ >> 16) & 0xff, (value_ >> 8) & 0xff,
             value_ & 0xff);
    return buf;
}

size_t Frame::size() const {
    return chain_->tot_len;
}

size_t Frame::copy_to(void* dst, size_t max, size_t offset) const {
    if (offset >= chain_->tot_len) return 0;
    size_t n = chain_->tot_len - offset;
    if (n > max) n = max;
    return pbuf_copy_partial(chain_, dst, static_cast<u16_t>(n), static_cast<u16_t>(offset));
}

Interface::Interface(Stack& stack, Driver& driver, const InterfaceConfig& config)
    : stack_(stack), driver_(driver), mac_(config.mac), mtu_(config.mtu) {}

err_t Interface::init_netif(netif* nif) {
    auto* self = static_cast<Interface*>(nif->state);
    nif->name[0] = 'e';
    nif->name[1] = 'n';
    nif->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(nif->hwaddr, self->mac_.bytes, ETH_HWADDR_LEN);
    nif->mtu = self->mtu_;
    nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    nif->output = etharp_output;
    nif->linkoutput = link_output;
    return ERR_OK;
}

err_t Interface::link_output(netif* nif, pbuf* frame) {
    auto* self = static_cast<Interface*>(nif->state);
    if (self->driver_.transmit(Frame(frame))) return ERR_OK;
    ++self->tx_dropped_;
    // TCP keeps a segment whose output failed and tries again on its next output.
    return ERR_MEM;
}

bool Interface::receive(const void* frame, size_t len) {
    if (len < SIZEOF_ETH_HDR || len > SIZEOF_ETH_HDR + size_t{mtu_} ||
        !stack_.enqueue(*this, frame, len)) {
        __atomic_add_fetch(&rx_dropped_, 1, __ATOMIC_RELAXED);
        return false;
    }
    return true;
}

void Interface::set_static(Ipv4Address address, Ipv4Address netmask, Ipv4Address gateway) {
    LWIP_ASSERT_CORE_LOCKED();
    if (netif_dhcp_data(netif_)) dhcp_release_and_stop(netif_);
    ip4_addr_t a = to_lwip(address), m = to_lwip(netmask), g = to_lwip(gateway);
    netif_set_addr(netif_, &a, &m, &g);
}

long Interface::start_dhcp() {
    LWIP_ASSERT_CORE_LOCKED();
    err_t err = dhcp_start(netif_);
    if (err == ERR_OK) return 0;
    return err == ERR_MEM ? -XEN_ENOMEM : -XEN_EIO;
}

bool Interface::wait_for_address(uint64_t timeout_ns) {
    uint64_t deadline = time::now_ns() + timeout_ns;
    for (;;) {
        LWIP_ASSERT_CORE_LOCKED();
        if (!ip4_addr_isany_val(*netif_ip4_addr(netif_))) return true;
        uint64_t now = time::now_ns();
        if (now >= deadline) return false;
        sleep_ns(deadline - now < kAddressPollNs ? deadline - now : kAddressPollNs);
    }
}

void Interface::set_default() {
    LWIP_ASSERT_CORE_LOCKED();
    netif_set_default(netif_);
}

void Interface::set_link(bool up) {
    LWIP_ASSERT_CORE_LOCKED();
    if (up)
        netif_set_link_up(netif_);
    else
        netif_set_link_down(netif_);
}

Ipv4Address Interface::address() const {
    return from_lwip(netif_ip4_addr(netif_));
}
Ipv4Address Interface::netmask() const {
    return from_lwip(netif_ip4_netmask(netif_));
}
Ipv4Address Interface::gateway() const {
    return from_lwip(netif_ip4_gw(netif_));
}

}  // namespace pumice::net
