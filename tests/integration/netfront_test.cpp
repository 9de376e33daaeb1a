// Pumice's network frontend under httpd, against a scripted netif backend written here: a
// test double, not the daemon's netback. It plays the backend's side of the xenbus
// handshake through the store, maps the frontend's grants as domid 0 does, reads the
// frames the guest transmits from its granted pages and copies frames into the receive
// buffers the guest posts. The test speaks raw Ethernet through it: ARP and ICMP echo
// (answered by lwIP), then a whole HTTP exchange over a TCP connection played by hand.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "abi/xen.hpp"
#include "backends/xenstored/local_client.hpp"
#include "hv/grant_table.hpp"
#include "hv/host_channel.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/scripted_backend.hpp"
#include "toolstack/launch/store_service.hpp"

#include <xen/io/netif.h>

namespace xenolith::integration {
namespace {

using Frame = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

constexpr Mac kGuestMac = {0x00, 0x16, 0x3e, 0x12, 0x34, 0x56};
constexpr Mac kHostMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr uint32_t kGuestIp = 0x0a00020f;  // 10.0.2.15
constexpr uint32_t kHostIp = 0x0a000202;   // 10.0.2.2
constexpr uint32_t kRingEntries = __CONST_RING_SIZE(netif_tx, 4096);
static_assert(kRingEntries == __CONST_RING_SIZE(netif_rx, 4096));

struct BackendOptions {
    bool bad_tx_id = false;  // answer the first transmitted frame with an id never issued
};

// One mapped ring page, read and written as the backend does (indices with atomics).
template <typename Sring, typename Req, typename Rsp>
class BackRing {
  public:
    explicit BackRing(hv::GrantMapping m) : map_(std::move(m)) {}
    explicit operator bool() const { return static_cast<bool>(map_); }
    // The page is still there (the guest's domain alive).
    bool valid() const { return !map_.writable_page().empty(); }
    uint32_t* index(size_t off) {
        return reinterpret_cast<uint32_t*>(map_.writable_page().data() + off);
    }
    uint32_t req_prod() {
        return __atomic_load_n(index(offsetof(Sring, req_prod)), __ATOMIC_ACQUIRE);
    }
    Req request(uint32_t i) {
        Req r;
        std::memcpy(&r, slot(i), sizeof(r));
        return r;
    }
    void respond(const Rsp& r) {
        std::memcpy(slot(rsp_prod_++), &r, sizeof(r));
        __atomic_store_n(index(offsetof(Sring, rsp_prod)), rsp_prod_, __ATOMIC_RELEASE);
    }
    // Asks for a notification at the next request (RING_FINAL_CHECK_FOR_REQUESTS).
    bool final_check(uint32_t cons) {
        __atomic_store_n(index(offsetof(Sring, req_event)), cons + 1, __ATOMIC_SEQ_CST);
        return req_prod() != cons;
    }
    uint32_t cons = 0;

  private:
    uint8_t* slot(uint32_t i) {
        constexpr size_t entry = sizeof(Sring::ring[0]);
        return map_.writable_page().data() + offsetof(Sring, ring) + (i % kRingEntries) * entry;
    }
    hv::GrantMapping map_;
    uint32_t rsp_prod_ = 0;
};
using TxRing = BackRing<netif_tx_sring, netif_tx_request_t, netif_tx_response_t>;
using RxRing = BackRing<netif_rx_sring, netif_rx_request_t, netif_rx_response_t>;

class ScriptedNetBackend {
  public:
    ScriptedNetBackend(launch::StoreService& store, std::shared_ptr<hv::Domain> dom,
                       BackendOptions o = {})
        : xb_(store, std::move(dom), "vif", 0), o_(o), fe_(xb_.fe()), be_(xb_.be()) {}
    ~ScriptedNetBackend() { xb_.stop(); }

    // Writes both directories as libxl does and starts serving (backend state InitWait).
    void plug() {
        const std::string id = std::to_string(xb_.dom().id());
        xb_.create_dirs();
        const std::string mac = "00:16:3e:12:34:56";
        for (auto [node, value] :
             std::initializer_list<std::pair<const char*, std::string>>{{"frontend", fe_},
                                                                        {"frontend-id", id},
                                                                        {"online", "1"},
                                                                        {"state", "1"},
                                                                        {"handle", "0"},
                                                                        {"mac", mac},
                                                                        {"type", "vif"},
                                                                        {"feature-sg", "1"},
                                                                        {"feature-rx-copy", "1"},
                                                                        {"feature-rx-flip", "0"}})
            xb_.write(be_ + "/" + node, value);
        for (auto [node, value] :
             std::initializer_list<std::pair<const char*, std::string>>{{"backend", be_},
                                                                        {"backend-id", "0"},
                                                                        {"state", "1"},
                                                                        {"handle", "0"},
                                                                        {"mac", mac}})
            xb_.write(fe_ + "/" + node, value);
        xb_.set_state(XenbusStateInitWait);
        xb_.start([this] { run(); });
    }
    void unplug() { xb_.unplug(); }

    // A frame for the guest (delivered when it has a receive buffer posted).
    void send(Frame f) {
        std::lock_guard lock(mutex_);
        to_guest_.push_back(std::move(f));
    }
    // The next frame the guest transmitted that `match` accepts (others are dropped).
    std::optional<Frame> receive(const std::function<bool(const Frame&)>& match,
                                 std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock(mutex_);
        auto deadline = Clock::now() + timeout;
        for (;;) {
            while (!from_guest_.empty()) {
                Frame f = std::move(from_guest_.front());
                from_guest_.pop_front();
                if (match(f)) return f;
            }
            if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && from_guest_.empty())
                return std::nullopt;
        }
    }
    std::string fe_node(const std::string& node) { return xb_.fe_node(node); }
    std::string be_state() { return xb_.be_state(); }

  private:
    void run() {
        while (xb_.running()) {
            auto step = xb_.step([this] { return connect(); });
            if (step == ScriptedXenbus::Step::finish) {
                tx_.reset(), rx_.reset();
                xb_.close_channel();
                xb_.closed();
                return;
            }
            bool serving = step == ScriptedXenbus::Step::serve && !xb_.closing();
            if (serving && (!tx_->valid() || !rx_->valid())) return;  // guest gone
            if (serving) {
                xb_.wait_event();
                bool notify = serve_tx();
                notify |= serve_rx();
                if (notify) xb_.channel().notify();
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        }
    }

    bool connect() {
        tx_ = std::make_unique<TxRing>(xb_.map_fe_grant("tx-ring-ref"));
        rx_ = std::make_unique<RxRing>(xb_.map_fe_grant("rx-ring-ref"));
        if (!*tx_ || !*rx_) throw std::runtime_error("a ring grant does not map");
        xb_.bind_channel();
        return true;
    }

    // Reads the guest's frames (chains of slots) from its granted pages.
    bool serve_tx() {
        bool any = false;
        do {
            for (uint32_t prod = tx_->req_prod(); tx_->cons != prod;) {
                netif_tx_request_t req = tx_->request(tx_->cons++);
                netif_tx_response_t rsp{};
                rsp.id = o_.bad_tx_id && !bad_sent_ ? 999 : req.id;
                bad_sent_ = bad_sent_ || o_.bad_tx_id;
                rsp.status = collect(req) ? NETIF_RSP_OKAY : NETIF_RSP_ERROR;
                tx_->respond(rsp);
                any = true;
            }
        } while (tx_->final_check(tx_->cons));
        return any;
    }

    bool collect(const netif_tx_request_t& req) {
        if (pending_.empty()) first_size_ = req.size;
        hv::GrantMapping m = xb_.dom().grant_table().map(req.gref, 0, true);
        if (!m || req.offset > 4096 || req.size > 4096 - req.offset) return false;
        // The first slot's size is the frame's; its own bytes are what the others leave.
        size_t n = std::min<size_t>(req.size, 4096 - req.offset);
        auto page = m.page();
        pending_.insert(pending_.end(), page.begin() + req.offset, page.begin() + req.offset + n);
        if (req.flags & NETTXF_more_data) return true;
        pending_.resize(std::min<size_t>(pending_.size(), first_size_));
        {
            std::lock_guard lock(mutex_);
            from_guest_.push_back(std::move(pending_));
        }
        cv_.notify_all();
        pending_.clear();
        return true;
    }

    // Copies waiting frames into the guest's posted buffers.
    bool serve_rx() {
        bool any = false;
        std::lock_guard lock(mutex_);
        while (!to_guest_.empty() && rx_->cons != rx_->req_prod()) {
            netif_rx_request_t req = rx_->request(rx_->cons++);
            Frame& f = to_guest_.front();
            netif_rx_response_t rsp{};
            rsp.id = req.id;
            hv::GrantMapping m = xb_.dom().grant_table().map(req.gref, 0, false);
            if (m && f.size() <= 4096) {
                std::memcpy(m.writable_page().data(), f.data(), f.size());
                rsp.status = static_cast<int16_t>(f.size());
            } else {
                rsp.status = NETIF_RSP_ERROR;
            }
            rx_->respond(rsp);
            to_guest_.pop_front();
            any = true;
        }
        if (!to_guest_.empty()) rx_->final_check(rx_->cons);
        return any;
    }

    ScriptedXenbus xb_;  // first: destroyed last, after its thread stopped
    BackendOptions o_;
    const std::string fe_, be_;
    std::unique_ptr<TxRing> tx_;
    std::unique_ptr<RxRing> rx_;
    Frame pending_;
    size_t first_size_ = 0;
    bool bad_sent_ = false;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Frame> to_guest_, from_guest_;
};

// ---- raw frames ------------------------------------------------------------------------

void put16(Frame& f, size_t at, uint16_t v) {
    f[at] = v >> 8, f[at + 1] = v & 0xff;
}
void put32(Frame& f, size_t at, uint32_t v) {
    put16(f, at, v >> 16), put16(f, at + 2, v & 0xffff);
}
uint16_t get16(const Frame& f, size_t at) {
    return static_cast<uint16_t>(f[at] << 8 | f[at + 1]);
}
uint32_t get32(const Frame& f, size_t at) {
    return static_cast<uint32_t>(get16(f, at)) << 16 | get16(f, at + 2);
}
uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
    return sum;
}
uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

Frame ethernet(const Mac& dst, uint16_t type, size_t payload) {
    Frame f(14 + payload, 0);
    std::copy(dst.begin(), dst.end(), f.begin());
    std::copy(kHostMac.begin(), kHostMac.end(), f.begin() + 6);
    put16(f, 12, type);
    return f;
}

Frame arp_request() {
    Frame f = ethernet({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0x0806, 28);
    put16(f, 14, 1), put16(f, 16, 0x0800), f[18] = 6, f[19] = 4, put16(f, 20, 1);
    std::copy(kHostMac.begin(), kHostMac.end(), f.begin() + 22);
    put32(f, 28, kHostIp), put32(f, 38, kGuestIp);
    return f;
}

// An IPv4 packet (no options) to the guest, with its header checksum.
Frame ipv4(uint8_t protocol, size_t payload) {
    Frame f = ethernet(kGuestMac, 0x0800, 20 + payload);
    f[14] = 0x45, put16(f, 16, static_cast<uint16_t>(20 + payload)), f[22] = 64, f[23] = protocol;
    put32(f, 26, kHostIp), put32(f, 30, kGuestIp);
    put16(f, 24, fold(sum16(f.data() + 14, 20)));
    return f;
}

Frame ping(uint16_t seq, const std::string& data) {
    Frame f = ipv4(1, 8 + data.size());
    f[34] = 8, put16(f, 38, 0x4242), put16(f, 40, seq);
    std::copy(data.begin(), data.end(), f.begin() + 42);
    put16(f, 36, fold(sum16(f.data() + 34, 8 + data.size())));
    return f;
}

bool is_ipv4(const Frame& f, uint8_t protocol) {
    return f.size() >= 34 && get16(f, 12) == 0x0800 && f[23] == protocol &&
           get32(f, 26) == kGuestIp && get32(f, 30) == kHostIp;
}

// A TCP segment from the host's port 40000 to the guest's port 80.
Frame tcp(uint32_t seq, uint32_t ack, uint8_t flags, const std::string& data = "") {
    Frame f = ipv4(6, 20 + data.size());
    put16(f, 34, 40000), put16(f, 36, 80), put32(f, 38, seq), put32(f, 42, ack);
    f[46] = 5 << 4, f[47] = flags, put16(f, 48, 65535);
    std::copy(data.begin(), data.end(), f.begin() + 54);
    uint8_t pseudo[12] = {};
    std::memcpy(pseudo, f.data() + 26, 8);
    pseudo[9] = 6, pseudo[10] = static_cast<uint8_t>((20 + data.size()) >> 8),
    pseudo[11] = static_cast<uint8_t>(20 + data.size());
    put16(f, 50, fold(sum16(f.data() + 34, 20 + data.size(), sum16(pseudo, 12))));
    return f;
}
constexpr uint8_t kFin = 1, kSyn = 2, kPsh = 8, kAck = 16;

class Netfront : public IntegrationTest {
  protected:
    hv::Hypervisor hv_;
    launch::StoreService store_{hv_};
    std::unique_ptr<ApiGuest> g_;
    std::unique_ptr<ScriptedNetBackend> be_;

    // The backend's thread stops before the domain whose pages it maps goes.
    void TearDown() override {
        be_.reset();
        g_.reset();
    }

    // Boots httpd on 10.0.2.15/24 with a vif served by a scripted backend; waits until it
    // listens.
    void boot(BackendOptions o = {}) {
        g_ = std::make_unique<ApiGuest>(hv_, "httpd", "ip=10.0.2.15/24 gw=10.0.2.2", 1, 64, "web1",
                                        &store_);
        be_ = std::make_unique<ScriptedNetBackend>(store_, g_->ptr(), o);
        be_->plug();
        g_->start();
        ASSERT_TRUE(g_->console().wait_for("httpd: listening on 10.0.2.15:80", 10s))
            << g_->console().text();
    }
};

TEST_F(Netfront, HandshakeThenArpAndPingAnsweredThroughTheRings) {
    ASSERT_NO_FATAL_FAILURE(boot());
    auto& be = be_;
    auto& g = g_;
    EXPECT_NE(g->console().text().find("httpd: vif0 mac=00:16:3e:12:34:56 address=10.0.2.15 "
                                       "netmask=255.255.255.0 gateway=10.0.2.2 (static)\n"),
              std::string::npos)
        << g->console().text();
    EXPECT_EQ(be->fe_node("state"), "4");
    EXPECT_EQ(be->fe_node("request-rx-copy"), "1");
    EXPECT_EQ(be->fe_node("feature-rx-notify"), "1");
    EXPECT_EQ(be->be_state(), "4");

    be->send(arp_request());
    auto reply = be->receive([](const Frame& f) {
        return f.size() >= 42 && get16(f, 12) == 0x0806 && get16(f, 20) == 2;
    });
    ASSERT_TRUE(reply) << "no ARP reply\n" << g->console().text();
    EXPECT_TRUE(std::equal(kGuestMac.begin(), kGuestMac.end(), reply->begin() + 22));
    EXPECT_EQ(get32(*reply, 28), kGuestIp);
    EXPECT_TRUE(std::equal(kHostMac.begin(), kHostMac.end(), reply->begin()));

    // More echoes than the receive ring has slots: every buffer is reposted.
    for (uint16_t seq = 0; seq < kRingEntries + 44; ++seq) {
        std::string data = "xenolith ping " + std::to_string(seq) + std::string(seq % 100, '.');
        be->send(ping(seq, data));
        auto echo = be->receive([](const Frame& f) { return is_ipv4(f, 1) && f[34] == 0; });
        ASSERT_TRUE(echo) << "no echo reply to seq " << seq << "\n" << g->console().text();
        EXPECT_EQ(get16(*echo, 40), seq);
        EXPECT_EQ(std::string(echo->begin() + 42, echo->end()), data);
        EXPECT_EQ(fold(sum16(echo->data() + 14, 20)), 0) << "IP checksum";
    }
}

TEST_F(Netfront, ServesAPageOverTcpPlayedByHand) {
    ASSERT_NO_FATAL_FAILURE(boot());
    auto& be = be_;
    auto& g = g_;
    be->send(arp_request());  // the guest learns the host's MAC
    be->send(tcp(1000, 0, kSyn));
    auto syn_ack =
        be->receive([](const Frame& f) { return is_ipv4(f, 6) && f[47] == (kSyn | kAck); });
    ASSERT_TRUE(syn_ack) << g->console().text();
    ASSERT_EQ(get32(*syn_ack, 42), 1001u);
    uint32_t guest_seq = get32(*syn_ack, 38) + 1;
    const std::string request = "GET / HTTP/1.1\r\nHost: 10.0.2.15\r\nConnection: close\r\n\r\n";
    be->send(tcp(1001, guest_seq, kAck | kPsh, request));

    std::string response;
    bool fin = false;
    while (!fin) {
        auto seg = be->receive([](const Frame& f) { return is_ipv4(f, 6); });
        ASSERT_TRUE(seg) << "response so far: " << response << "\n" << g->console().text();
        size_t header = 34 + (((*seg)[46] >> 4) * 4);
        size_t end = 14 + get16(*seg, 16);
        ASSERT_LE(end, seg->size());
        if (get32(*seg, 38) != guest_seq) continue;  // a retransmission
        response.append(seg->begin() + header, seg->begin() + end);
        guest_seq += static_cast<uint32_t>(end - header);
        fin = (*seg)[47] & kFin;
        if (fin) ++guest_seq;
        be->send(tcp(1001 + request.size(), guest_seq, kAck | (fin ? kFin : 0)));
    }
    EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
    EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos) << response;
    EXPECT_NE(response.find("served by a Xenolith unikernel"), std::string::npos) << response;
    EXPECT_NE(response.find("domain web1"), std::string::npos) << response;
    size_t body = response.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos);
    auto length =
        number_after({response.substr(response.find("Content-Length: "))}, "Content-Length: ");
    ASSERT_TRUE(length) << response;
    EXPECT_EQ(*length, response.size() - body - 4) << response;
}

TEST_F(Netfront, ABadTransmitResponseIdDisablesTheDevice) {
    BackendOptions o;
    o.bad_tx_id = true;
    ASSERT_NO_FATAL_FAILURE(boot(o));
    auto& be = be_;
    auto& g = g_;
    be->send(arp_request());  // makes the guest transmit
    ASSERT_TRUE(g->console().wait_for("httpd: vif0 gone after 0 requests", 10s))
        << g->console().text();
    EXPECT_NE(g->console().text().find("netfront: vif0: bad tx response (id=999 status=0): device "
                                       "disabled\n"),
              std::string::npos)
        << g->console().text();
}

TEST_F(Netfront, HotUnplugEndsTheServer) {
    ASSERT_NO_FATAL_FAILURE(boot());
    auto& be = be_;
    auto& g = g_;
    be->unplug();
    EXPECT_EQ(g->wait_for_stop(15s), std::optional(hv::DomainState::Shutdown))
        << g->console().text();
    std::string text = g->console().text();
    EXPECT_NE(text.find("netfront: vif0: backend is Closing: device gone\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("httpd: vif0 gone after 0 requests\n"), std::string::npos) << text;
    EXPECT_EQ(g->domain().exit_status(), std::optional<uint32_t>(0)) << text;
    EXPECT_EQ(be->be_state(), "6");
}

TEST_F(Netfront, NoVifFailsCleanly) {
    ApiGuest g(hv_, "httpd", "", 1, 32, "", &store_);
    g.start();
    EXPECT_EQ(g.wait_for_stop(10s), std::optional(hv::DomainState::Shutdown)) << g.console().text();
    EXPECT_NE(g.console().text().find("httpd: no network: cannot open device/vif/0: rc=-19 (no "
                                      "such vif)\n"),
              std::string::npos)
        << g.console().text();
    EXPECT_EQ(g.domain().exit_status(), std::optional<uint32_t>(1));
}

TEST_F(Netfront, BadOptionsAreNamed) {
    ApiGuest g(hv_, "httpd", "ip=10.0.2.300/24", 1, 32, "", &store_);
    g.start();
    EXPECT_EQ(g.wait_for_stop(10s), std::optional(hv::DomainState::Shutdown)) << g.console().text();
    EXPECT_NE(g.console().text().find("httpd: bad ip=10.0.2.300/24: want dhcp or A.B.C.D/len\n"),
              std::string::npos)
        << g.console().text();
}

}  // namespace
}  // namespace xenolith::integration
