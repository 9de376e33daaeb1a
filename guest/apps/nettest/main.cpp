// nettest: the network stack (pumice/net.hpp, lwIP) inside one domain, no driver needed.
//
// Two interfaces, a (10.0.0.1/24) and b, are wired back to back in memory (wire.hpp).
//  1. DHCP: b's DHCP client gets 10.0.0.2 from a small DHCP server on a (dhcp_server.hpp);
//  2. wire: a TCP echo (echo.hpp) of `bytes` (1 MiB) from b to a's port 7, every byte
//     checked. Both ends are bound to their interface: one lwIP holds both addresses and
//     would otherwise route a's replies to b's address through its loopback;
//  3. loopback: the same echo over lwIP's loopback interface, 127.0.0.1 port 8.
// Prints
//   nettest: dhcp address=10.0.0.2 netmask=255.255.255.0 gateway=10.0.0.1 offers=1 acks=1
//   nettest: wire echo bytes=.. ms=.. frames_ab=.. frames_ba=..
//   nettest: loopback echo bytes=.. ms=..
//   nettest: ok bytes=<total checked>
// and exits 0; on any failure one line `nettest: FAIL <what>` and exit 1.
#include <pumice/net.hpp>
#include <pumice/pumice.hpp>

#include "nettest/dhcp_server.hpp"
#include "nettest/echo.hpp"
#include "nettest/wire.hpp"

using namespace pumice;
using net::Ipv4Address;

namespace {

constexpr Ipv4Address kAddressA{10, 0, 0, 1};
constexpr Ipv4Address kAddressB{10, 0, 0, 2};
constexpr Ipv4Address kNetmask{255, 255, 255, 0};
constexpr Ipv4Address kLoopback{127, 0, 0, 1};
constexpr uint64_t kDhcpTimeoutNs = 10 * time::kNsPerSec;
constexpr uint64_t kEchoTimeoutNs = 30 * time::kNsPerSec;

int fail(const char* what) {
    printf("nettest: FAIL %s\n", what);
    return 1;
}

const char* text(Ipv4Address address) {
    static char bufs[4][16];
    static unsigned next;
    char* buf = bufs[next++ % 4];
    return address.format(buf, sizeof(bufs[0]));
}

// b asks for an address; a's DHCP server hands out kAddressB.
int run_dhcp(net::Interface& a, net::Interface& b) {
    nettest::DhcpServer server(a, kAddressB, kNetmask);
    if (!server.start()) return fail("dhcp: the server cannot bind port 67");
    long rc = b.start_dhcp();
    if (rc < 0) {
        printf("nettest: FAIL dhcp: start_dhcp rc=%ld\n", rc);
        return 1;
    }
    if (!b.wait_for_address(kDhcpTimeoutNs)) {
        printf("nettest: FAIL dhcp: no address after %llu ms (offers=%u acks=%u)\n",
               static_cast<unsigned long long>(kDhcpTimeoutNs / time::kNsPerMs), server.offers(),
               server.acks());
        return 1;
    }
    printf("nettest: dhcp address=%s netmask=%s gateway=%s offers=%u acks=%u\n", text(b.address()),
           text(b.netmask()), text(b.gateway()), server.offers(), server.acks());
    if (!(b.address() == kAddressB) || !(b.netmask() == kNetmask) || !(b.gateway() == kAddressA)) {
        return fail("dhcp: the lease differs from what the server offered");
    }
    return 0;
}

// An echo of `bytes` from `client` to `server`:port; `ms` is how long it took.
// With interfaces, each end is bound to its own.
struct EchoEnds {
    Ipv4Address client, server;
    net::Interface* client_interface = nullptr;
    net::Interface* server_interface = nullptr;
};

int run_echo(net::Stack& stack, const char* name, const EchoEnds& ends, u16_t port, size_t bytes,
             uint64_t& ms) {
    Ipv4Address server_address = ends.server;
    nettest::EchoServer server;
    nettest::EchoClient client(bytes);
    if (!server.listen(server_address, port, ends.server_interface)) {
        printf("nettest: FAIL %s: cannot listen on %s:%u\n", name, text(server_address), port);
        return 1;
    }
    uint64_t start = time::now_ns();
    if (!client.start(ends.client, server_address, port, ends.client_interface)) {
        printf("nettest: FAIL %s: cannot connect to %s:%u\n", name, text(server_address), port);
        return 1;
    }
    // What this thread sent to a local address waits in lwIP's loopback queue.
    stack.wake();
    uint64_t deadline = start + kEchoTimeoutNs;
    // Done when every byte came back and both sides have closed.
    while ((!client.done() || server.has_open()) && !client.failure() && !server.failure() &&
           time::now_ns() < deadline) {
        sleep_ns(time::kNsPerMs);
    }
    ms = (time::now_ns() - start) / time::kNsPerMs;
    const char* why = client.failure() ? client.failure() : server.failure();
    if (why || !client.done() || server.has_open()) {
        printf("nettest: FAIL %s: %s (sent=%zu received=%zu echoed=%zu accepted=%u)\n", name,
               why ? why : "timed out", client.sent(), client.received(), server.echoed(),
               server.accepted());
        return 1;
    }
    if (server.accepted() != 1 || server.echoed() != bytes) {
        printf("nettest: FAIL %s: server accepted %u connections and echoed %zu bytes\n", name,
               server.accepted(), server.echoed());
        return 1;
    }
    return 0;
}

}  // namespace

int main() {
    size_t bytes = cmdline::get_u64("bytes", 1024 * 1024);
    if (bytes == 0) return fail("bytes=0: nothing to echo");
    net::Stack& stack = net::Stack::start();

    nettest::WireEnd end_a, end_b;
    net::InterfaceConfig config_a, config_b;
    config_a.mac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}};
    config_b.mac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}};
    net::Interface* a = stack.add_interface(end_a, config_a);
    net::Interface* b = stack.add_interface(end_b, config_b);
    if (!a || !b) return fail("cannot add the interfaces");
    end_a.connect(b);
    end_b.connect(a);
    a->set_static(kAddressA, kNetmask);
    if (!a->wait_for_address(0)) return fail("a has no address after set_static");

    if (run_dhcp(*a, *b)) return 1;

    uint64_t wire_ms = 0, loop_ms = 0;
    uint64_t frames_ab = end_a.frames(), frames_ba = end_b.frames();
    if (run_echo(stack, "wire", {kAddressB, kAddressA, b, a}, 7, bytes, wire_ms)) return 1;
    printf("nettest: wire echo bytes=%zu ms=%llu frames_ab=%llu frames_ba=%llu\n", bytes,
           static_cast<unsigned long long>(wire_ms),
           static_cast<unsigned long long>(end_a.frames() - frames_ab),
           static_cast<unsigned long long>(end_b.frames() - frames_ba));
    if (run_echo(stack, "loopback", {kLoopback, kLoopback}, 8, bytes, loop_ms)) return 1;
    printf("nettest: loopback echo bytes=%zu ms=%llu\n", bytes,
           static_cast<unsigned long long>(loop_ms));

    if (a->rx_dropped() || b->rx_dropped()) {
        printf("nettest: FAIL frames dropped: a=%llu b=%llu\n",
               static_cast<unsigned long long>(a->rx_dropped()),
               static_cast<unsigned long long>(b->rx_dropped()));
        return 1;
    }
    printf("nettest: ok bytes=%zu\n", 2 * bytes);
    return 0;
}
