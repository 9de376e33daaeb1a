#include "backends/netback/slirp_link.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <libslirp.h>

#include "base/error.hpp"
#include "base/event_fd.hpp"

namespace xenolith::netback {

namespace {

constexpr const char* kGuestAddress = "10.0.2.15";
// How long the loop sleeps at most when neither slirp nor its timers want it sooner.
constexpr int64_t kMaxSleepMs = 1000;

in_addr ipv4(const char* text) {
    in_addr a{};
    inet_pton(AF_INET, text, &a);
    return a;
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Whether fd is a listening TCP socket bound to `port` (host byte order).
bool is_listener_on(int fd, uint16_t port) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
        return false;
    sockaddr_storage addr{};
    len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0 ||
        addr.ss_family != AF_INET)
        return false;
    return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port) == port;
}

short to_poll_events(int slirp_events) {
    short e = 0;
    if (slirp_events & SLIRP_POLL_IN) e |= POLLIN;
    if (slirp_events & SLIRP_POLL_OUT) e |= POLLOUT;
    if (slirp_events & SLIRP_POLL_PRI) e |= POLLPRI;
    if (slirp_events & SLIRP_POLL_ERR) e |= POLLERR;
    if (slirp_events & SLIRP_POLL_HUP) e |= POLLHUP;
    return e;
}

int to_slirp_events(short revents) {
    int e = 0;
    if (revents & POLLIN) e |= SLIRP_POLL_IN;
    if (revents & POLLOUT) e |= SLIRP_POLL_OUT;
    if (revents & POLLPRI) e |= SLIRP_POLL_PRI;
    if (revents & POLLERR) e |= SLIRP_POLL_ERR;
    if (revents & POLLHUP) e |= SLIRP_POLL_HUP;
    return e;
}

}  // namespace

std::string describe(const PortForward& f) {
    return std::string(f.udp ? "udp:" : "tcp:") + f.host_address + ":" +
           std::to_string(f.host_port) + "->" + kGuestAddress + ":" + std::to_string(f.guest_port);
}

// A slirp timer: armed with an absolute expiry in ms of now_ns()'s clock, or disarmed (-1).
struct SlirpLink::Timer {
    SlirpTimerCb cb = nullptr;          // slirp's legacy timer_new
    SlirpTimerId id = SLIRP_TIMER_NUM;  // timer_new_opaque: handed back to slirp_handle_timer
    void* cb_opaque = nullptr;
    int64_t expire_ms = -1;
};

// slirp's callbacks; `opaque` is the SlirpLink, and every one runs on its thread.
struct SlirpLink::Callbacks {
    static SlirpLink& self(void* opaque) { return *static_cast<SlirpLink*>(opaque); }

    static ssize_t send_packet(const void* buf, size_t len, void* opaque) {
        self(opaque).deliver({static_cast<const uint8_t*>(buf), len});
        return static_cast<ssize_t>(len);
    }
    static void guest_error(const char* msg, void* opaque) {
        if (self(opaque).log_) self(opaque).log_(std::string("slirp: ") + msg);
    }
    static int64_t clock_get_ns(void*) { return now_ns(); }
    static void* timer_new(SlirpTimerCb cb, void* cb_opaque, void* opaque) {
        auto t = std::make_unique<Timer>();
        t->cb = cb;
        t->cb_opaque = cb_opaque;
        return self(opaque).timers_.emplace_back(std::move(t)).get();
    }
    static void* timer_new_opaque(SlirpTimerId id, void* cb_opaque, void* opaque) {
        auto t = std::make_unique<Timer>();
        t->id = id;
        t->cb_opaque = cb_opaque;
        return self(opaque).timers_.emplace_back(std::move(t)).get();
    }
    static void timer_free(void* timer, void* opaque) {
        auto& timers = self(opaque).timers_;
        std::erase_if(timers, [&](const auto& t) { return t.get() == timer; });
    }
    static void timer_mod(void* timer, int64_t expire_ms, void*) {
        static_cast<Timer*>(timer)->expire_ms = expire_ms;
    }
    static void register_poll_fd(int, void*) {}  // every loop asks slirp for its fds anew
    static void unregister_poll_fd(int, void*) {}
    static void notify(void* opaque) { signal_event(self(opaque).wake_.get()); }
    static void init_completed(Slirp*, void*) {}

    static int add_poll(int fd, int events, void* opaque) {
        auto& fds = *self(opaque).pollfds_;
        fds.push_back({fd, to_poll_events(events), 0});
        return static_cast<int>(fds.size() - 1);
    }
    static int get_revents(int idx, void* opaque) {
        auto& fds = *self(opaque).pollfds_;
        if (idx < 0 || static_cast<size_t>(idx) >= fds.size()) return 0;
        return to_slirp_events(fds[static_cast<size_t>(idx)].revents);
    }
};

SlirpLink::SlirpLink(std::vector<PortForward> forwards, Log log)
    : log_(std::move(log)), wake_(make_event_fd()), stop_(make_event_fd()) {
    static const SlirpCb callbacks = {
        .send_packet = Callbacks::send_packet,
        .guest_error = Callbacks::guest_error,
        .clock_get_ns = Callbacks::clock_get_ns,
        .timer_new = Callbacks::timer_new,
        .timer_free = Callbacks::timer_free,
        .timer_mod = Callbacks::timer_mod,
        .register_poll_fd = Callbacks::register_poll_fd,
        .unregister_poll_fd = Callbacks::unregister_poll_fd,
        .notify = Callbacks::notify,
        .init_completed = Callbacks::init_completed,
        .timer_new_opaque = Callbacks::timer_new_opaque,
    };
    SlirpConfig cfg{};
    cfg.version = 4;  // the newest libslirp 4.7 knows
    cfg.in_enabled = true;
    cfg.vnetwork = ipv4("10.0.2.0");
    cfg.vnetmask = ipv4("255.255.255.0");
    cfg.vhost = ipv4("10.0.2.2");
    cfg.vdhcp_start = ipv4(kGuestAddress);
    cfg.vnameserver = ipv4("10.0.2.3");
    slirp_ = slirp_new(&cfg, &callbacks, this);
    if (!slirp_) throw Error("slirp: cannot start the user-mode network");
    for (const PortForward& f : forwards) {
        in_addr host{};
        if (inet_pton(AF_INET, f.host_address.c_str(), &host) != 1 ||
            slirp_add_hostfwd(slirp_, f.udp, host, f.host_port, ipv4(kGuestAddress), f.guest_port) <
                0) {
            slirp_cleanup(slirp_);
            throw Error("slirp: cannot forward " + describe(f) +
                        " (not an IPv4 address, or the host port is taken)");
        }
    }
    widen_listen_backlogs(forwards);
    thread_ = std::thread([this] { run(); });
}

// libslirp listens on a TCP forward's host port with a backlog of 1. A client that opens
// several connections at once (wrk, a browser) overflows it: the host kernel drops the
// handshake's last ACK, the client believes it is connected and its first request waits
// for its own retransmission timer (200 ms, then 400, 800 ms). listen() again on the same
// socket only changes the backlog (Linux's inet_listen), so the forward's sockets get the
// system's maximum; slirp still accepts them one per poll round. The sockets are found
// among the fds slirp asks to poll, before its thread starts.
void SlirpLink::widen_listen_backlogs(const std::vector<PortForward>& forwards) {
    std::vector<pollfd> fds;
    pollfds_ = &fds;
    uint32_t timeout = 0;
    slirp_pollfds_fill(slirp_, &timeout, Callbacks::add_poll, this);
    pollfds_ = nullptr;
    for (const PortForward& f : forwards) {
        if (f.udp) continue;
        for (const pollfd& p : fds)
            if (is_listener_on(p.fd, f.host_port) && ::listen(p.fd, SOMAXCONN) < 0 && log_)
                log_("slirp: cannot widen the listen backlog of " + describe(f));
    }
}

SlirpLink::~SlirpLink() {
    signal_event(stop_.get());
    thread_.join();
    slirp_cleanup(slirp_);
}

bool SlirpLink::send(Frame frame) {
    std::unique_lock slirp_lock(slirp_mutex_, std::try_to_lock);
    if (slirp_lock.owns_lock()) {
        input_queued();  // frames queued earlier go first
        slirp_input(slirp_, frame.data(), static_cast<int>(frame.size()));
        slirp_lock.unlock();
        // The slirp thread's poll set and timeout may be stale now (a new socket, data
        // waiting for POLLOUT, a timer armed sooner): it builds them anew.
        signal_event(wake_.get());
        return true;
    }
    {
        std::lock_guard lock(mutex_);
        if (input_.size() >= kInputQueueFrames) return false;
        input_.push_back(std::move(frame));
    }
    signal_event(wake_.get());
    return true;
}

void SlirpLink::run() {
    std::vector<pollfd> fds;
    pollfds_ = &fds;
    for (;;) {
        std::unique_lock slirp_lock(slirp_mutex_);
        fds.clear();
        fds.push_back({stop_.get(), POLLIN, 0});
        fds.push_back({wake_.get(), POLLIN, 0});
        int64_t next = fire_timers();
        uint32_t timeout =
            static_cast<uint32_t>(next < 0 ? kMaxSleepMs : std::min(next, kMaxSleepMs));
        slirp_pollfds_fill(slirp_, &timeout, Callbacks::add_poll, this);
        // Sockets send() creates meanwhile have no poll index yet (slirp skips them) and
        // its signal on wake_ brings us back to fill again.
        slirp_lock.unlock();
        int rc = ::poll(fds.data(), fds.size(), static_cast<int>(timeout));
        if (fds[0].revents) return;
        slirp_lock.lock();
        slirp_pollfds_poll(slirp_, rc < 0, Callbacks::get_revents, this);
        if (fds[1].revents) {
            uint64_t count;
            ssize_t n = ::read(wake_.get(), &count, sizeof count);
            (void)n;
            input_queued();
        }
    }
}

void SlirpLink::input_queued() {
    std::unique_lock lock(mutex_);
    if (input_.empty()) return;
    std::deque<Frame> frames;
    frames.swap(input_);
    lock.unlock();
    for (const Frame& f : frames) slirp_input(slirp_, f.data(), static_cast<int>(f.size()));
}

int64_t SlirpLink::fire_timers() {
    // One due timer at a time: firing one may free or re-arm others.
    for (;;) {
        int64_t now_ms = now_ns() / 1'000'000;
        auto due = std::find_if(timers_.begin(), timers_.end(), [&](const auto& t) {
            return t->expire_ms >= 0 && t->expire_ms <= now_ms;
        });
        if (due == timers_.end()) break;
        Timer& t = **due;
        t.expire_ms = -1;
        if (t.cb)
            t.cb(t.cb_opaque);
        else
            slirp_handle_timer(slirp_, t.id, t.cb_opaque);
    }
    int64_t now_ms = now_ns() / 1'000'000, next = -1;
    for (const auto& t : timers_)
        if (t->expire_ms >= 0 && (next < 0 || t->expire_ms - now_ms < next))
            next = std::max<int64_t>(0, t->expire_ms - now_ms);
    return next;
}

}  // namespace xenolith::netback
