// httpd: an HTTP/1.1 server in a unikernel: Pumice's netfront feeding lwIP, the server on
// lwIP's raw TCP API (server.hpp), built-in pages (pages.hpp).
//
// Options: vif=<devid> ip=dhcp|A.B.C.D/len gw=A.B.C.D dhcp_seconds=<s> (common/vif_setup.hpp),
// port=<n> (default 80), seconds=<s> (exit 0 after that long; default 0: serve until the
// vif goes away).
// Prints
//   httpd: vif0 mac=.. address=.. netmask=.. gateway=.. (dhcp|static)
//   httpd: listening on <address>:<port>
//   httpd: requests=<n> connections=<n> open=<n>      (at most once per 1000 requests)
// and, when the backend closes the vif, "httpd: vif0 gone after <n> requests" (exit 0).
// A failure is one line "httpd: ..." and exit 1.
#include <pumice/net.hpp>
#include <pumice/netfront.hpp>
#include <pumice/pumice.hpp>

#include "common/vif_setup.hpp"
#include "httpd/server.hpp"

using namespace pumice;

namespace {

// The domain's name and id from the store, for the pages.
httpd::Identity read_identity() {
    httpd::Identity id;
    char buf[64];
    long n = xenstore::read("name", buf, sizeof(buf));
    if (n > 0 && static_cast<size_t>(n) < sizeof(buf)) strlcpy(id.name, buf, sizeof(id.name));
    n = xenstore::read("domid", buf, sizeof(buf));
    if (n > 0 && static_cast<size_t>(n) < sizeof(id.domid))
        strlcpy(id.domid, buf, sizeof(id.domid));
    return id;
}

}  // namespace

int main() {
    vif_setup::Config config;
    if (!vif_setup::parse("httpd", &config)) return 1;
    uint64_t port = cmdline::get_u64("port", 80);
    if (port == 0 || port > 65535) {
        printf("httpd: bad port=%s\n", cmdline::get_str("port", ""));
        return 1;
    }
    uint64_t run_ns = cmdline::get_scaled("seconds", time::kNsPerSec, 0);

    net::Stack& stack = net::Stack::start();
    static netfront::Device vif;  // the stack keeps a reference: it lives as long as the domain
    net::Interface* eth = nullptr;
    if (vif_setup::bring_up("httpd", config, vif, stack, &eth) < 0) return 1;

    static httpd::Server server(read_identity(), &vif);
    if (!server.listen(static_cast<uint16_t>(port))) {
        printf("httpd: cannot listen on port %llu\n", static_cast<unsigned long long>(port));
        return 1;
    }
    printf("httpd: listening on %s:%llu\n", vif_setup::text(eth->address()),
           static_cast<unsigned long long>(port));

    uint64_t deadline = run_ns ? time::now_ns() + run_ns : 0;
    while (vif.connected() && (!deadline || time::now_ns() < deadline))
        sleep_ns(100 * time::kNsPerMs);
    if (!vif.connected()) {
        printf("httpd: %s gone after %llu requests\n", vif.name(),
               static_cast<unsigned long long>(server.counters().requests));
        return 0;
    }
    printf("httpd: done after %llu requests\n",
           static_cast<unsigned long long>(server.counters().requests));
    vif.close();
    return 0;
}
