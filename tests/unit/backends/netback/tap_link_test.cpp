// TapLink inside a network namespace of its own (a forked child that unshares it), so the
// host's network is never touched: the device comes up as a port of a bridge, frames cross
// the bridge both ways to a second TAP port, and the device goes with the link. Without
// root, creating the device must fail with a sentence that says root is needed.
#include "backends/netback/tap_link.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>

#include "base/error.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::netback {
namespace {

ifreq named(const char* name) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    return ifr;
}

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

// A plain TAP fd on the bridge: the other end of the wire.
UniqueFd peer_tap(int sock, const char* name, const char* bridge) {
    UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
    ifreq ifr = named(name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (!fd || ::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) throw Error("peer TAP");
    ifr = named(name);
    ifr.ifr_flags = IFF_UP;
    ::ioctl(sock, SIOCSIFFLAGS, &ifr);
    ifreq br = named(bridge);
    br.ifr_ifindex = static_cast<int>(if_nametoindex(name));
    if (::ioctl(sock, SIOCBRADDIF, &br) < 0) throw Error("peer TAP on the bridge");
    return fd;
}

// Runs in the child, in fresh network and mount namespaces; "" when all went well.
std::string tap_scenario() {
    if (::unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) return "unshare failed";
    // Our own /sys, so that /sys/class/net shows this namespace's devices.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0 ||
        ::mount("sysfs", "/sys", "sysfs", 0, nullptr) < 0)
        return "cannot mount sysfs";
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (::ioctl(sock.get(), SIOCBRADDBR, "xenbr9") < 0) return "cannot create a bridge";
    ifreq up = named("xenbr9");
    up.ifr_flags = IFF_UP;
    ::ioctl(sock.get(), SIOCSIFFLAGS, &up);

    try {
        TapLink missing("vif9.1", "nobridge");
        return "a missing bridge was accepted";
    } catch (const Error& e) {
        if (std::string(e.what()).find("TAP vif9.1: cannot add it to bridge nobridge") != 0)
            return std::string("unexpected error: ") + e.what();
    }
    if (exists("/sys/class/net/vif9.1")) return "the failed device was left behind";

    std::mutex mutex;
    std::condition_variable cv;
    std::vector<uint8_t> got;
    {
        TapLink link(TapLink::default_name(9, 0), "xenbr9");
        if (link.name() != "tap vif9.0 on xenbr9") return "name " + link.name();
        if (!exists("/sys/class/net/vif9.0/brport")) return "vif9.0 is not a bridge port";
        ifreq flags = named("vif9.0");
        ::ioctl(sock.get(), SIOCGIFFLAGS, &flags);
        if (!(flags.ifr_flags & IFF_UP)) return "vif9.0 is not up";
        UniqueFd peer = peer_tap(sock.get(), "peer9", "xenbr9");
        link.set_receiver([&](std::span<const uint8_t> f) {
            std::lock_guard lock(mutex);
            if (f.size() == 60 && f[12] == 0x88) got.assign(f.begin(), f.end());
            cv.notify_all();
        });
        // Guest → bridge: a broadcast floods to the peer port.
        Frame out(60, 0xab);
        std::memset(out.data(), 0xff, 6);
        out[6] = 0x02, out[12] = 0x88, out[13] = 0xb5;
        if (!link.send(out)) return "send failed";
        pollfd p{peer.get(), POLLIN, 0};
        std::vector<uint8_t> buf(2048);
        bool seen = false;
        for (int i = 0; i < 20 && !seen && ::poll(&p, 1, 100) >= 0; ++i) {
            ssize_t n;
            while ((n = ::read(peer.get(), buf.data(), buf.size())) > 0)
                if (n == 60 && buf[12] == 0x88 && buf[20] == 0xab) seen = true;
        }
        if (!seen) return "the guest's frame did not reach the bridge";
        // Bridge → guest.
        Frame in(60, 0xcd);
        std::memset(in.data(), 0xff, 6);
        in[6] = 0x02, in[7] = 0x01, in[12] = 0x88, in[13] = 0xb5;
        if (::write(peer.get(), in.data(), in.size()) != 60) return "peer write failed";
        std::unique_lock lock(mutex);
        if (!cv.wait_for(lock, std::chrono::seconds(2), [&] { return !got.empty(); }))
            return "the bridge's frame did not reach the guest";
        if (got[20] != 0xcd) return "the bridge's frame arrived changed";
        lock.unlock();
        link.set_receiver({});
    }
    if (exists("/sys/class/net/vif9.0")) return "vif9.0 outlived its link";
    return "";
}

TEST(TapLinkTest, DefaultNameIsXls) {
    EXPECT_EQ(TapLink::default_name(3, 1), "vif3.1");
}

TEST(TapLinkTest, BridgePortInAPrivateNetworkNamespace) {
    if (::geteuid() != 0) {
        // Unprivileged: the refusal must say what is missing.
        try {
            TapLink link("vifx.0", "xenbr0");
            FAIL() << "a TAP device was created without root";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("needs root"), std::string::npos) << e.what();
        }
        return;
    }
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::string result = tap_scenario();
        ssize_t n = ::write(fds[1], result.data(), result.size());
        (void)n;
        ::_exit(result.empty() ? 0 : 1);
    }
    ::close(fds[1]);
    std::string message;
    char buf[256];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) message.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << message;
    EXPECT_EQ(message, "");
}

}  // namespace
}  // namespace xenolith::netback
