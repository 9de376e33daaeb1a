// Pumice's netfront and lwIP against the daemon's real netback and user-mode networking,
// through `xn run` with vif= in the config, as a user runs examples/httpd.cfg: the guest
// gets its address from slirp's DHCP, and a host client reaches httpd through forward=,
// many requests on one keep-alive connection and a large body.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>

#include "base/unique_fd.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/http_client.hpp"

namespace xenolith::integration {
namespace {

class Netback : public IntegrationTest {
  protected:
    TempDir dir_;
};

TEST_F(Netback, HttpdAnswersThroughTheForwardedPort) {
    const uint16_t port = free_port();
    ASSERT_NE(port, 0);
    GuestConfig cfg = app_config("httpd", "ip=dhcp");
    std::string path =
        dir_.write("httpd.cfg", cfg.text() + "vif = ['forward=" + std::to_string(port) + ":80']\n");
    bool done = false;
    std::string failure = "httpd never listened";
    ProcessResult r = xn_run(path, {"-q"}, 60s, [&](pid_t pid, const ProcessResult& so_far) {
        if (done || so_far.out.find("httpd: listening on 10.0.2.15:80") == std::string::npos)
            return;
        done = true;
        failure = [&]() -> std::string {
            UniqueFd s = connect_to(port);
            if (!s) return "cannot connect to the forward";
            std::string buffer;
            for (int i = 0; i < 100; ++i) {
                auto resp = exchange(s.get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", buffer);
                if (!resp) return "request " + std::to_string(i) + " got no whole response";
                if (resp->status_line != "HTTP/1.1 200 OK") return "status " + resp->status_line;
                if (resp->body.find("served by a Xenolith unikernel") == std::string::npos)
                    return "body " + resp->body;
            }
            auto big =
                exchange(s.get(), "GET /bytes?n=3000000 HTTP/1.1\r\nHost: x\r\n\r\n", buffer);
            if (!big || big->body.size() != 3000000) return "the 3 MB body came back short";
            // /stats counts the requests before itself: 100 pages and the large body.
            auto stats = exchange(s.get(), "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n", buffer);
            if (!stats || stats->body.find("requests: 101") == std::string::npos)
                return "stats: " + (stats ? stats->body : std::string("none"));
            auto missing = exchange(s.get(), "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", buffer);
            if (!missing || missing->status_line != "HTTP/1.1 404 Not Found") return "no 404";
            return "";
        }();
        ::kill(pid, SIGTERM);
    });
    EXPECT_TRUE(done) << describe(r);
    EXPECT_EQ(failure, "") << describe(r);
    EXPECT_NE(r.out.find("address=10.0.2.15 netmask=255.255.255.0 gateway=10.0.2.2 (dhcp)"),
              std::string::npos)
        << r.out;
}

TEST_F(Netback, ATakenForwardPortFailsTheBootAtItsSpec) {
    // Hold a port open on 127.0.0.1: the forward cannot bind it.
    UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(holder.get(), 1), 0);
    ASSERT_EQ(::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
    const std::string port = std::to_string(ntohs(a.sin_port));
    GuestConfig cfg = app_config("httpd", "ip=dhcp");
    std::string path = dir_.write("busy.cfg", cfg.text() + "vif = ['forward=" + port + ":80']\n");
    ProcessResult r = xn_run(path, {"-q"}, 20s);
    EXPECT_EQ(r.exit_code, 125) << describe(r);
    EXPECT_NE(r.err.find("busy.cfg:9:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("vif 0"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(port), std::string::npos) << r.err;
}

}  // namespace
}  // namespace xenolith::integration
