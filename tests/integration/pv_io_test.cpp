// The PV I/O plane between real guests on /dev/kvm: two domains exchange events over an
// interdomain event channel.
#include <gtest/gtest.h>

#include <thread>

#include "boot/elf_image.hpp"
#include "boot/pv_builder.hpp"
#include "hv/hypervisor.hpp"
#include "toolstack/launch/pv_guest.hpp"
#include "tests/integration/harness.hpp"

namespace xenolith::integration {
namespace {

using PvIo = PeerGuestsTest;

TEST_F(PvIo, TwoGuestsPingPongOverAnInterdomainEventChannel) {
    // Both domains exist first, so each knows the other's domid (as a toolstack would tell
    // them through xenstore).
    auto server = create("pong");
    auto client = create("ping");
    ConsoleCapture server_out, client_out;
    build(*server, "pingpong", "role=server rounds=500 peer=" + std::to_string(client->id()), server_out);
    server->start();
    ASSERT_TRUE(server_out.wait_for("pingpong: port=", 5s)) << server_out.text();
    auto port = number_after(server_out.lines(), "pingpong: port=");
    ASSERT_TRUE(port);
    build(*client, "pingpong",
          "role=client rounds=500 peer=" + std::to_string(server->id()) + " port=" + std::to_string(*port),
          client_out);
    client->start();

    EXPECT_EQ(done(*client), hv::DomainState::Shutdown) << client_out.text() << client->crash_report();
    EXPECT_EQ(done(*server), hv::DomainState::Shutdown) << server_out.text() << server->crash_report();
    EXPECT_EQ(client->exit_status(), std::optional<uint32_t>(0)) << client_out.text();
    EXPECT_EQ(server->exit_status(), std::optional<uint32_t>(0)) << server_out.text();
    EXPECT_TRUE(number_after(client_out.lines(), "pingpong: rounds=500 ns_per_round=")) << client_out.text();
    EXPECT_NE(server_out.text().find("pingpong: server answered 500\n"), std::string::npos) << server_out.text();
}

TEST_F(PvIo, BindingToAPortOfferedToAnotherDomainFails) {
    auto server = create("offer");
    auto intruder = create("intruder");
    ConsoleCapture server_out, intruder_out;
    // Offered to a domid that is not the intruder's.
    build(*server, "pingpong", "role=server rounds=1 peer=" + std::to_string(intruder->id() + 100), server_out);
    server->start();
    ASSERT_TRUE(server_out.wait_for("pingpong: port=", 5s)) << server_out.text();
    auto port = number_after(server_out.lines(), "pingpong: port=");
    ASSERT_TRUE(port);
    build(*intruder, "pingpong",
          "role=client rounds=1 peer=" + std::to_string(server->id()) + " port=" + std::to_string(*port),
          intruder_out);
    intruder->start();
    EXPECT_EQ(intruder->wait_for_stop(), hv::DomainState::Shutdown);
    EXPECT_EQ(intruder->exit_status(), std::optional<uint32_t>(1));
    EXPECT_NE(intruder_out.text().find("bind_interdomain failed: -22"), std::string::npos) << intruder_out.text();
}

}  // namespace
}  // namespace xenolith::integration

namespace xenolith::integration {
namespace {

// The PV console ring both ways: host input reaches the guest, its replies come back.
TEST_F(PvIo, ConsoleRingCarriesInputToTheGuestAndItsOutputBack) {
    ApiGuest g(hv_, "echo", "");
    g.start();
    ASSERT_TRUE(g.console().wait_for("echo: ready", 5s)) << g.console().text();
    g.console_input("hello ring\n");
    ASSERT_TRUE(g.console().wait_for("echo: hello ring", 5s)) << g.console().text();
    // More than the 1 KiB input ring holds, in one go: nothing lost, nothing reordered.
    std::string bulk;
    for (int i = 0; i < 200; ++i) bulk += "line " + std::to_string(i) + "\n";
    g.console_input(bulk + "quit\n");
    ASSERT_EQ(g.wait_for_stop(10s), std::optional(hv::DomainState::Shutdown)) << g.console().text();
    EXPECT_EQ(g.domain().exit_status(), std::optional<uint32_t>(0));
    auto lines = g.console().lines();
    std::vector<std::string> echoed;
    for (const auto& l : lines)
        if (starts_with(l, "echo: line ")) echoed.push_back(l.substr(6));
    ASSERT_EQ(echoed.size(), 200u) << g.console().text();
    for (int i = 0; i < 200; ++i) EXPECT_EQ(echoed[static_cast<size_t>(i)], "line " + std::to_string(i));
}

}  // namespace
}  // namespace xenolith::integration
