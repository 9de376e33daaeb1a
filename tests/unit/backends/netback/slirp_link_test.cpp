// The user-mode network through SlirpLink, with the test as the guest's NIC: slirp's DHCP
// server offers 10.0.2.15, and a host connection to a forwarded port reaches the guest
// as a SYN. No root, no host network changes.
#include "backends/netback/slirp_link.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <optional>

#include "backends/netback/checksum.hpp"
#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "tests/unit/backends/netback/frames.hpp"

namespace xenolith::netback {
namespace {

using namespace testing;
using namespace std::chrono_literals;

// Collects slirp's frames for the guest.
class GuestNic {
  public:
    explicit GuestNic(HostLink& link) : link_(link) {
        link_.set_receiver([this](std::span<const uint8_t> f) {
            std::lock_guard lock(mutex_);
            frames_.emplace_back(f.begin(), f.end());
            cv_.notify_all();
        });
    }
    ~GuestNic() { link_.set_receiver({}); }
    // The first frame (within 5 s) that `match` accepts; earlier ones are passed to
    // `other` (to answer ARP, say) and dropped.
    template <typename Match, typename Other>
    std::optional<Frame> wait_for(Match match, Other other) {
        auto end = std::chrono::steady_clock::now() + 5s;
        std::unique_lock lock(mutex_);
        for (;;) {
            while (!frames_.empty()) {
                Frame f = std::move(frames_.front());
                frames_.pop_front();
                if (match(f)) return f;
                lock.unlock();
                other(f);
                lock.lock();
            }
            if (cv_.wait_until(lock, end) == std::cv_status::timeout && frames_.empty())
                return std::nullopt;
        }
    }

  private:
    HostLink& link_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Frame> frames_;
};

bool is_udp_from(const Frame& f, uint16_t sport) {
    return f.size() >= 42 && get16(f, 12) == 0x0800 && f[23] == 17 && get16(f, 34) == sport;
}

Frame dhcp_discover() {
    std::vector<uint8_t> bootp(240);
    bootp[0] = 1;  // BOOTREQUEST
    bootp[1] = 1;  // Ethernet
    bootp[2] = 6;
    bootp[4] = 0x12, bootp[5] = 0x34, bootp[6] = 0x56, bootp[7] = 0x78;  // xid
    std::memcpy(&bootp[28], kGuestMac, 6);
    bootp[236] = 99, bootp[237] = 130, bootp[238] = 83, bootp[239] = 99;  // magic cookie
    bootp.insert(bootp.end(), {53, 1, 1, 255});                           // DISCOVER
    static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t zero[4] = {0, 0, 0, 0};
    static const uint8_t bcast[4] = {255, 255, 255, 255};
    Frame f = udp_frame(68, 67, bootp, bcast_mac, zero, bcast);
    EXPECT_TRUE(complete_l4_checksum(f));
    return f;
}

// The DHCP message type (option 53) of a BOOTP reply frame, or 0.
int dhcp_type(const Frame& f) {
    size_t opts = 42 + 240;
    for (size_t i = opts; i + 1 < f.size() && f[i] != 255;) {
        if (f[i] == 0) {
            ++i;
            continue;
        }
        if (f[i] == 53 && i + 2 < f.size()) return f[i + 2];
        i += 2u + f[i + 1];
    }
    return 0;
}

// An ARP request or reply from the guest (10.0.2.15 at kGuestMac) to `target_ip`.
Frame arp(uint16_t op, const uint8_t target_mac[6], const uint8_t target_ip[4]) {
    Frame f(42);
    for (int i = 0; i < 6; ++i) f[i] = op == 1 ? 0xff : target_mac[i], f[6 + i] = kGuestMac[i];
    put16(f, 12, 0x0806);
    put16(f, 14, 1);
    put16(f, 16, 0x0800);
    f[18] = 6, f[19] = 4;
    put16(f, 20, op);
    std::memcpy(&f[22], kGuestMac, 6);
    std::memcpy(&f[28], kIpGuest, 4);
    std::memcpy(&f[32], target_mac, 6);
    std::memcpy(&f[38], target_ip, 4);
    return f;
}

// Answers slirp's "who has 10.0.2.15?".
auto answer_arp(SlirpLink& link) {
    return [&link](const Frame& f) {
        if (f.size() >= 42 && get16(f, 12) == 0x0806 && get16(f, 20) == 1 &&
            std::memcmp(&f[38], kIpGuest, 4) == 0)
            link.send(arp(2, &f[6], &f[28]));
    };
}

uint16_t free_tcp_port() {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

TEST(SlirpLinkTest, DhcpDiscoverGetsAnOfferOf10_0_2_15) {
    SlirpLink link;
    GuestNic nic(link);
    EXPECT_TRUE(link.checksums_trusted());
    ASSERT_TRUE(link.send(dhcp_discover()));
    auto offer = nic.wait_for([](const Frame& f) { return is_udp_from(f, 67); }, answer_arp(link));
    ASSERT_TRUE(offer) << "no DHCP reply within 5 s";
    const Frame& f = *offer;
    ASSERT_GE(f.size(), 42u + 240u);
    EXPECT_EQ(get16(f, 36), 68);  // to the client port
    EXPECT_EQ(f[42], 2);          // BOOTREPLY
    EXPECT_EQ(std::vector<uint8_t>(f.begin() + 42 + 16, f.begin() + 42 + 20),
              std::vector<uint8_t>({10, 0, 2, 15}));  // yiaddr
    EXPECT_EQ(dhcp_type(f), 2);                       // DHCPOFFER
    EXPECT_EQ(std::vector<uint8_t>(f.begin() + 26, f.begin() + 30),
              std::vector<uint8_t>({10, 0, 2, 2}));  // from the gateway
    EXPECT_TRUE(l4_checksum_ok(f));
}

TEST(SlirpLinkTest, HostConnectionToAForwardedPortReachesTheGuestAsASyn) {
    uint16_t port = free_tcp_port();
    SlirpLink link({PortForward{false, "127.0.0.1", port, 80}});
    GuestNic nic(link);
    // The guest announces itself, as its first ARP request would.
    static const uint8_t nobody[6] = {};
    ASSERT_TRUE(link.send(arp(1, nobody, kIpGateway)));

    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);

    auto syn = nic.wait_for(
        [](const Frame& f) {
            return f.size() >= 54 && get16(f, 12) == 0x0800 && f[23] == 6 && (f[47] & 0x02);
        },
        answer_arp(link));
    ASSERT_TRUE(syn) << "no SYN towards the guest within 5 s";
    const Frame& f = *syn;
    EXPECT_EQ(get16(f, 36), 80);  // the guest port
    EXPECT_EQ(std::vector<uint8_t>(f.begin() + 30, f.begin() + 34),
              std::vector<uint8_t>({10, 0, 2, 15}));
    EXPECT_EQ(std::memcmp(f.data(), kGuestMac, 6), 0);
    EXPECT_TRUE(l4_checksum_ok(f));
}

// The backlog of the TCP socket listening on 127.0.0.1:port, as the kernel reports it
// (sock_diag: idiag_wqueue is a listener's maximum backlog; what `ss -ltn` shows).
std::optional<uint32_t> listen_backlog(uint16_t port) {
    UniqueFd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!nl) return std::nullopt;
    struct {
        nlmsghdr nlh;
        inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.req.sdiag_family = AF_INET;
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_states = 1u << 10;  // TCP_LISTEN
    if (::send(nl.get(), &msg, sizeof msg, 0) != static_cast<ssize_t>(sizeof msg))
        return std::nullopt;
    alignas(nlmsghdr) char buf[16384];
    for (;;) {
        ssize_t n = ::recv(nl.get(), buf, sizeof buf, 0);
        if (n <= 0) return std::nullopt;
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) return std::nullopt;
            auto* d = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
            if (ntohs(d->id.idiag_sport) == port && d->id.idiag_src[0] == htonl(INADDR_LOOPBACK))
                return d->idiag_wqueue;
        }
    }
}

// libslirp listens with a backlog of 1; a client opening several connections at once would
// have its handshakes dropped and wait for its retransmission timer.
TEST(SlirpLinkTest, AForwardListensWithAWideBacklog) {
    uint16_t port = free_tcp_port();
    SlirpLink link({PortForward{false, "127.0.0.1", port, 80}});
    std::optional<uint32_t> backlog = listen_backlog(port);
    ASSERT_TRUE(backlog) << "no listener on 127.0.0.1:" << port << " in sock_diag";
    EXPECT_GE(*backlog, 128u);
}

TEST(SlirpLinkTest, AForwardThatCannotBindIsRefusedByName) {
    uint16_t port = free_tcp_port();
    UniqueFd taken(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(taken.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(taken.get(), 1), 0);
    try {
        SlirpLink link({PortForward{false, "127.0.0.1", port, 22}});
        FAIL() << "a taken port was accepted";
    } catch (const Error& e) {
        EXPECT_NE(
            std::string(e.what()).find("tcp:127.0.0.1:" + std::to_string(port) + "->10.0.2.15:22"),
            std::string::npos)
            << e.what();
    }
    EXPECT_THROW(SlirpLink({PortForward{true, "localhost", 5353, 53}}), Error);
}

}  // namespace
}  // namespace xenolith::netback
