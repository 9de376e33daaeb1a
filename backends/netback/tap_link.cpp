#include "backends/netback/tap_link.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/error.hpp"
#include "base/event_fd.hpp"

namespace xenolith::netback {

namespace {

// The largest frame a bridge port passes without offloads: 64 KiB is ample.
constexpr size_t kMaxFrame = 65536;

ifreq request_for(const std::string& name) {
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), size_t{IFNAMSIZ - 1}));
    return ifr;
}

}  // namespace

std::string TapLink::default_name(uint32_t domid, uint32_t devid) {
    return "vif" + std::to_string(domid) + "." + std::to_string(devid);
}

TapLink::TapLink(std::string ifname, std::string bridge)
    : ifname_(std::move(ifname)), bridge_(std::move(bridge)) {
    auto fail = [&](const std::string& step) {
        int e = errno;
        std::string why = std::strerror(e);
        if (e == EPERM || e == EACCES) why += " (creating a TAP device needs root)";
        throw Error("TAP " + ifname_ + ": " + step + ": " + why);
    };
    if (ifname_.empty() || ifname_.size() >= IFNAMSIZ) {
        errno = EINVAL;
        fail("the name must have 1 to " + std::to_string(IFNAMSIZ - 1) + " characters");
    }
    tap_.reset(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
    if (!tap_) fail("cannot open /dev/net/tun");
    ifreq ifr = request_for(ifname_);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (::ioctl(tap_.get(), TUNSETIFF, &ifr) < 0) fail("cannot create the device");

    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) fail("cannot open a socket to configure it");
    ifr = request_for(ifname_);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) fail("cannot read its flags");
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) fail("cannot bring it up");
    if (!bridge_.empty()) {
        ifreq br = request_for(bridge_);
        br.ifr_ifindex = static_cast<int>(if_nametoindex(ifname_.c_str()));
        if (br.ifr_ifindex == 0 || ::ioctl(sock.get(), SIOCBRADDIF, &br) < 0)
            fail("cannot add it to bridge " + bridge_);
    }
    stop_ = make_event_fd();
    thread_ = std::thread([this] { run(); });
}

TapLink::~TapLink() {
    signal_event(stop_.get());
    thread_.join();
    if (!bridge_.empty()) {
        UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        ifreq br = request_for(bridge_);
        br.ifr_ifindex = static_cast<int>(if_nametoindex(ifname_.c_str()));
        if (sock && br.ifr_ifindex != 0) ::ioctl(sock.get(), SIOCBRDELIF, &br);
    }
    // tap_ closes last: a non-persistent TAP device disappears with its last fd.
}

std::string TapLink::name() const {
    return "tap " + ifname_ + (bridge_.empty() ? "" : " on " + bridge_);
}

bool TapLink::send(Frame frame) {
    // Non-blocking: a full device queue drops, as a NIC would.
    return ::write(tap_.get(), frame.data(), frame.size()) == static_cast<ssize_t>(frame.size());
}

void TapLink::run() {
    std::vector<uint8_t> buf(kMaxFrame);
    pollfd fds[2] = {{tap_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0) continue;  // EINTR
        if (fds[1].revents) return;
        // Bounded per wakeup so that a flood from the bridge cannot starve the stop.
        for (int i = 0; i < 64; ++i) {
            ssize_t n = ::read(tap_.get(), buf.data(), buf.size());
            if (n <= 0) break;
            deliver({buf.data(), static_cast<size_t>(n)});
        }
    }
}

}  // namespace xenolith::netback
