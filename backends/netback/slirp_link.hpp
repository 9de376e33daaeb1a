// User-mode networking through libslirp (QEMU's "-netdev user"): the guest sits behind a
// NAT on 10.0.2.0/24 and gets 10.0.2.15 from slirp's DHCP server, with the gateway (and
// the host) at 10.0.2.2 and a DNS forwarder at 10.0.2.3. Needs no privileges. Ports of
// the host can be forwarded to the guest.
//
// libslirp is not thread-safe: one thread of the link's own runs slirp's poll loop, its
// timers and slirp_input; frames from the guest reach it through a bounded queue and an
// eventfd.
#pragma once

#include <poll.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/netback/host_link.hpp"
#include "base/unique_fd.hpp"

struct Slirp;

namespace xenolith::netback {

// One host→guest port forward: what `forward=[tcp:|udp:][hostaddr:]hostport:guestport`
// in a vif spec says.
struct PortForward {
    bool udp = false;
    std::string host_address = "127.0.0.1";  // where the host listens
    uint16_t host_port = 0;
    uint16_t guest_port = 0;  // on the guest's 10.0.2.15
};

// "tcp:127.0.0.1:8080->10.0.2.15:80", for messages.
std::string describe(const PortForward& forward);

class SlirpLink final : public HostLink {
  public:
    using Log = std::function<void(const std::string& line)>;
    // Frames from the guest waiting for the slirp thread, at most.
    static constexpr size_t kInputQueueFrames = 256;

    // Starts slirp with its default network and the forwards. Throws Error naming the
    // forward that cannot be set up (an address that is not IPv4, a port already taken).
    // `log` receives slirp's complaints about the guest (may be empty).
    explicit SlirpLink(std::vector<PortForward> forwards = {}, Log log = {});
    ~SlirpLink() override;
    SlirpLink(const SlirpLink&) = delete;
    SlirpLink& operator=(const SlirpLink&) = delete;

    bool send(Frame frame) override;
    std::string name() const override { return "slirp"; }
    bool checksums_trusted() const override { return true; }

  private:
    struct Timer;
    struct Callbacks;
    void widen_listen_backlogs(const std::vector<PortForward>& forwards);
    void run();
    void poll_once();
    void input_queued();
    int64_t fire_timers();  // returns ms until the next one (-1: none)

    Log log_;
    Slirp* slirp_ = nullptr;
    UniqueFd wake_;
    UniqueFd stop_;
    std::mutex mutex_;  // input_
    std::deque<Frame> input_;
    // libslirp is not thread-safe: every call into it, and its timers and poll set, are
    // under slirp_mutex_. The slirp thread lets go of it while it waits in poll(), so
    // send() can hand a guest frame to slirp on the caller's thread (netback's ring
    // thread) instead of waking the slirp thread for it: a thread hop less for every
    // frame the guest sends. Lock order: slirp_mutex_, then mutex_.
    std::mutex slirp_mutex_;
    std::vector<std::unique_ptr<Timer>> timers_;
    std::vector<pollfd>* pollfds_ = nullptr;
    std::thread thread_;
};

}  // namespace xenolith::netback
