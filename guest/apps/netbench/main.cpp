// netbench: TCP throughput from the guest, through netfront and lwIP, to a host sink.
//
// Options: host=A.B.C.D (default 10.0.2.2) port=<n> (default 5001) mib=<n> (default 64),
// plus the vif options of common/vif_setup.hpp (vif=, ip=, gw=, dhcp_seconds=).
// The guest connects to host:port and sends mib MiB (a repeating 64-byte pattern), then
// closes; the time runs from the connection being established to the last byte being
// acknowledged. On the host any sink serves: `nc -l 5001 >/dev/null`, `iperf -s` (v2).
// Prints
//   netbench: connected to <host>:<port>
//   netbench: stream bytes=<n> ns=<n> mbit_s=<n>
// and exits 0; a failure is one line "netbench: FAIL ..." and exit 1.
#include <pumice/net.hpp>
#include <pumice/netfront.hpp>
#include <pumice/pumice.hpp>

#include "common/vif_setup.hpp"
#include "lwip/tcp.h"

using namespace pumice;

namespace {

constexpr size_t kBlock = 16384;
constexpr uint64_t kConnectTimeoutNs = 10 * time::kNsPerSec;
constexpr uint64_t kStreamTimeoutNs = 600 * time::kNsPerSec;
char pattern[kBlock];

// One outgoing stream; its fields change on the stack's threads, read by main on the same
// vCPU (cooperative threads: no locks).
struct Stream {
    tcp_pcb* pcb = nullptr;
    uint64_t bytes = 0;
    uint64_t written = 0;
    uint64_t acked = 0;
    uint64_t connected_ns = 0;
    uint64_t done_ns = 0;
    const char* failure = nullptr;

    void write_some() {
        while (written < bytes) {
            uint32_t room = tcp_sndbuf(pcb);
            if (room == 0 || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 1) break;
            uint64_t left = bytes - written;
            size_t n = left < kBlock ? static_cast<size_t>(left) : kBlock;
            if (n > room) n = room;
            u8_t flags = written + n < bytes ? TCP_WRITE_FLAG_MORE : 0;
            err_t err = tcp_write(pcb, pattern, static_cast<u16_t>(n), flags);
            if (err == ERR_MEM) break;
            if (err != ERR_OK) {
                failure = "tcp_write failed";
                return;
            }
            written += n;
        }
        tcp_output(pcb);
    }

    static err_t on_connected(void* arg, tcp_pcb*, err_t err) {
        auto* s = static_cast<Stream*>(arg);
        if (err != ERR_OK) {
            s->failure = "connect failed";
            return ERR_OK;
        }
        s->connected_ns = time::now_ns();
        s->write_some();
        return ERR_OK;
    }
    static err_t on_sent(void* arg, tcp_pcb*, u16_t len) {
        auto* s = static_cast<Stream*>(arg);
        s->acked += len;
        if (s->acked >= s->bytes && !s->done_ns) s->done_ns = time::now_ns();
        s->write_some();
        return ERR_OK;
    }
    static err_t on_recv(void* arg, tcp_pcb* pcb, pbuf* p, err_t) {
        auto* s = static_cast<Stream*>(arg);
        if (!p) {
            if (s->acked < s->bytes) s->failure = "the host closed the connection early";
            return ERR_OK;
        }
        tcp_recved(pcb, p->tot_len);  // a sink that answers: ignored
        pbuf_free(p);
        return ERR_OK;
    }
    static void on_err(void* arg, err_t err) {
        auto* s = static_cast<Stream*>(arg);
        s->pcb = nullptr;  // freed by lwIP
        s->failure = err == ERR_RST ? "connection reset" : "connection error";
    }
};

int fail(const char* what) {
    printf("netbench: FAIL %s\n", what);
    return 1;
}

}  // namespace

int main() {
    vif_setup::Config config;
    if (!vif_setup::parse("netbench", &config)) return 1;
    net::Ipv4Address host;
    const char* host_text = cmdline::get_str("host", "10.0.2.2");
    const char* end = vif_setup::parse_ipv4(host_text, &host);
    if (!end || *end) return fail("host= is not an IPv4 address");
    uint64_t port = cmdline::get_u64("port", 5001);
    if (port == 0 || port > 65535) return fail("port= is not 1..65535");
    uint64_t mib = cmdline::get_u64("mib", 64);
    if (mib == 0 || mib > 1024 * 1024) return fail("mib= is not 1..1048576");
    for (size_t i = 0; i < kBlock; ++i) pattern[i] = static_cast<char>('a' + i % 26);

    net::Stack& stack = net::Stack::start();
    static netfront::Device vif;
    net::Interface* eth = nullptr;
    if (vif_setup::bring_up("netbench", config, vif, stack, &eth) < 0) return 1;

    static Stream s;
    s.bytes = mib << 20;
    s.pcb = tcp_new();
    if (!s.pcb) return fail("tcp_new");
    tcp_arg(s.pcb, &s);
    tcp_sent(s.pcb, Stream::on_sent);
    tcp_recv(s.pcb, Stream::on_recv);
    tcp_err(s.pcb, Stream::on_err);
    ip_addr_t to;
    ip4_addr_set_u32(&to, lwip_htonl(host.host_order()));
    if (tcp_connect(s.pcb, &to, static_cast<u16_t>(port), Stream::on_connected) != ERR_OK)
        return fail("tcp_connect");

    uint64_t start = time::now_ns();
    while (!s.connected_ns && !s.failure && time::now_ns() < start + kConnectTimeoutNs)
        sleep_ns(time::kNsPerMs);
    if (s.failure || !s.connected_ns) {
        printf("netbench: FAIL cannot connect to %s:%llu: %s\n", vif_setup::text(host),
               static_cast<unsigned long long>(port), s.failure ? s.failure : "timed out");
        return 1;
    }
    printf("netbench: connected to %s:%llu\n", vif_setup::text(host),
           static_cast<unsigned long long>(port));
    while (!s.done_ns && !s.failure && time::now_ns() < s.connected_ns + kStreamTimeoutNs)
        sleep_ns(time::kNsPerMs);
    if (!s.done_ns) {
        printf("netbench: FAIL stream: %s after %llu of %llu bytes acknowledged\n",
               s.failure ? s.failure : "timed out", static_cast<unsigned long long>(s.acked),
               static_cast<unsigned long long>(s.bytes));
        return 1;
    }
    uint64_t ns = s.done_ns - s.connected_ns;
    printf("netbench: stream bytes=%llu ns=%llu mbit_s=%llu\n",
           static_cast<unsigned long long>(s.bytes), static_cast<unsigned long long>(ns),
           static_cast<unsigned long long>(ns ? s.bytes * 8 * 1000 / ns : 0));
    // What the frontend did meanwhile: drops here mean TCP had to send again.
    netfront::Device::Stats v = vif.stats();
    printf(
        "netbench: %s tx_frames=%llu tx_dropped=%llu tx_errors=%llu rx_frames=%llu "
        "notifies=%llu\n",
        vif.name(), static_cast<unsigned long long>(v.tx_frames),
        static_cast<unsigned long long>(v.tx_dropped), static_cast<unsigned long long>(v.tx_errors),
        static_cast<unsigned long long>(v.rx_frames), static_cast<unsigned long long>(v.notifies));
    if (s.pcb) {
        // No callback may see the cleared arg: the host's FIN can still arrive (lwIP's
        // default receive handler then finishes the close).
        tcp_arg(s.pcb, nullptr);
        tcp_recv(s.pcb, nullptr);
        tcp_sent(s.pcb, nullptr);
        tcp_err(s.pcb, nullptr);
        if (tcp_close(s.pcb) != ERR_OK) tcp_abort(s.pcb);
    }
    sleep_ns(100 * time::kNsPerMs);  // let the FIN go out
    vif.close();
    return 0;
}
