// The unix-socket transport with a raw protocol client: requests answered, watch events
// pushed to a watcher by another client's change, a hostile client dropped alone.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "backends/xenstored/socket_server.hpp"
#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "tests/unit/backends/xenstored/xs_client.hpp"

namespace xenolith::xenstored::testing {
namespace {

std::string temp_socket_path() {
    char dir[] = "/tmp/xenolith-xs-XXXXXX";
    EXPECT_NE(::mkdtemp(dir), nullptr);
    return std::string(dir) + "/socket";
}

UniqueFd connect_to(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
}

// Reads whole messages until `count` have arrived or 5 s pass.
std::vector<Message> receive(int fd, size_t count) {
    std::string bytes;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
        std::vector<Message> got;
        {
            std::string_view rest = bytes;
            while (rest.size() >= kHeaderSize) {
                xsd_sockmsg h;
                std::memcpy(&h, rest.data(), kHeaderSize);
                if (rest.size() < kHeaderSize + h.len) break;
                got.push_back(
                    {h.type, h.req_id, h.tx_id, std::string(rest.substr(kHeaderSize, h.len))});
                rest.remove_prefix(kHeaderSize + h.len);
            }
        }
        if (got.size() >= count || std::chrono::steady_clock::now() > deadline) return got;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) == 1) {
            char buf[8192];
            ssize_t n = ::read(fd, buf, sizeof(buf));
            if (n <= 0) return got;
            bytes.append(buf, static_cast<size_t>(n));
        }
    }
}

void send_all(int fd, const std::string& bytes) {
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

TEST(XenstoreSocketServer, ServesRequestsAndPushesWatchEvents) {
    Xenstored daemon;
    std::string path = temp_socket_path();
    {
        SocketServer server(daemon, path);
        EXPECT_TRUE(std::filesystem::is_socket(path));
        EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
                  std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

        UniqueFd watcher = connect_to(path);
        send_all(watcher.get(), encode_message(XS_WATCH, 1, 0, nul({"/s", "tok"})));
        auto w = receive(watcher.get(), 2);
        ASSERT_EQ(w.size(), 2u);
        EXPECT_EQ(w[0].payload, std::string("OK", 3));
        EXPECT_EQ(w[1].payload, nul({"/s", "tok"}));

        UniqueFd writer = connect_to(path);
        send_all(writer.get(), encode_message(XS_WRITE, 2, 0, std::string("/s/k\0val", 8)) +
                                   encode_message(XS_READ, 3, 0, nul({"/s/k"})));
        auto r = receive(writer.get(), 2);
        ASSERT_EQ(r.size(), 2u);
        EXPECT_EQ(r[1].req_id, 3u);
        EXPECT_EQ(r[1].payload, "val");

        auto e = receive(watcher.get(), 1);
        ASSERT_EQ(e.size(), 1u);
        EXPECT_EQ(e[0].type, static_cast<uint32_t>(XS_WATCH_EVENT));
        EXPECT_EQ(e[0].payload, nul({"/s/k", "tok"}));

        // A hostile header closes that client's socket; the others keep working.
        UniqueFd hostile = connect_to(path);
        xsd_sockmsg h{XS_READ, 1, 0, 0x7fffffff};
        send_all(hostile.get(), std::string(reinterpret_cast<const char*>(&h), sizeof(h)));
        pollfd p{hostile.get(), POLLIN, 0};
        ASSERT_EQ(::poll(&p, 1, 5000), 1);
        char c;
        EXPECT_EQ(::read(hostile.get(), &c, 1), 0);  // EOF
        send_all(writer.get(), encode_message(XS_READ, 4, 0, nul({"/s/k"})));
        EXPECT_EQ(receive(writer.get(), 1).size(), 1u);
        EXPECT_EQ(daemon.node_count(), 5u);  // "/", /tool, /tool/xenstored, /s, /s/k
    }
    EXPECT_FALSE(std::filesystem::exists(path));  // the server removes its socket
    EXPECT_EQ(daemon.connection_count(), 0u);
    std::filesystem::remove(std::filesystem::path(path).parent_path());
}

TEST(XenstoreSocketServer, ABadPathIsOneClearError) {
    Xenstored daemon;
    try {
        SocketServer server(daemon, "/nonexistent-dir/xenstored/socket");
        FAIL() << "bound a socket in a missing directory";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/xenstored/socket"),
                  std::string::npos);
    }
    EXPECT_THROW(SocketServer(daemon, std::string(200, 'x')), Error);
}

}  // namespace
}  // namespace xenolith::xenstored::testing
