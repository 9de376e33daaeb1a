// Where gdb connects: the endpoint forms xn debug accepts, and clear errors for the rest.
#include "vmi/gdb/gdb_listener.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <filesystem>
#include <future>

#include <gtest/gtest.h>

#include "base/error.hpp"
#include "base/unix_socket.hpp"

namespace xenolith::vmi::gdb {
namespace {

TEST(GdbListener, PicksAPortForTcpPortZeroAndAccepts) {
    GdbListener listener("tcp:127.0.0.1:0");
    const std::string& endpoint = listener.endpoint();
    ASSERT_EQ(endpoint.rfind("tcp:127.0.0.1:", 0), 0u) << endpoint;
    int port = std::stoi(endpoint.substr(14));
    EXPECT_GT(port, 0);

    auto accepted = std::async(std::launch::async, [&] { return listener.accept(); });
    UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_TRUE(accepted.get().valid());
}

TEST(GdbListener, ListensOnAUnixSocketAndRemovesItAfterwards) {
    std::string path = "/tmp/xenolith-gdb-listener-" + std::to_string(::getpid()) + ".sock";
    {
        GdbListener listener("unix:" + path);
        EXPECT_EQ(listener.endpoint(), "unix:" + path);
        auto accepted = std::async(std::launch::async, [&] { return listener.accept(); });
        int err = 0;
        UniqueFd client = connect_unix(path, err);
        ASSERT_TRUE(client.valid());
        EXPECT_TRUE(accepted.get().valid());
    }
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(GdbListener, RefusesMalformedEndpointsByName) {
    for (const char* bad : {"udp:127.0.0.1:1234", "127.0.0.1:1234", "tcp:127.0.0.1", "tcp::1234",
                            "tcp:127.0.0.1:", "tcp:127.0.0.1:port", "unix:"}) {
        try {
            GdbListener listener(bad);
            ADD_FAILURE() << bad << " was accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(std::string(bad).substr(0, 5)), std::string::npos)
                << e.what();
        }
    }
}

}  // namespace
}  // namespace xenolith::vmi::gdb
