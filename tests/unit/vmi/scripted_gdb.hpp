// The gdb side of a socketpair, driven by a test: it frames requests, checks the server's
// acknowledgements and checksums, and runs the server under test on its own thread.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "base/unique_fd.hpp"
#include "base/unix_socket.hpp"
#include "vmi/gdb/channel.hpp"
#include "vmi/gdb/gdb_server.hpp"
#include "vmi/gdb/hex.hpp"
#include "vmi/gdb/packet.hpp"

namespace xenolith::vmi::gdb::testing {

class ScriptedGdb {
  public:
    explicit ScriptedGdb(Target& target) {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        client_.reset(fds[0]);
        server_fd_.reset(fds[1]);
        served_ = std::async(std::launch::async, [this, &target] {
            FdChannel channel(server_fd_.get());
            return GdbServer(target, channel).serve();
        });
    }
    ~ScriptedGdb() {
        if (served_.valid()) hang_up();
    }

    // Sends `payload` as a packet and returns the reply's payload ("<none>" on a timeout).
    std::string request(const std::string& payload) {
        send_raw(frame_packet(payload));
        if (acks) {
            EXPECT_EQ(read_byte(), '+') << "no ack for " << payload;
        }
        return reply();
    }

    // The next packet from the server, acknowledged; "<none>" when none comes in time.
    std::string reply(int timeout_ms = 5000) {
        int c;
        do {
            c = read_byte(timeout_ms);
            if (c < 0) return "<none>";
        } while (c != '$');
        std::string payload;
        while ((c = read_byte()) >= 0 && c != '#') payload.push_back(static_cast<char>(c));
        std::string checksum;
        checksum += static_cast<char>(read_byte());
        checksum += static_cast<char>(read_byte());
        EXPECT_EQ(frame_packet(payload), "$" + payload + "#" + checksum);
        if (acks) send_raw("+");
        return payload;
    }

    void send_raw(const std::string& bytes) {
        write_all(client_.get(), bytes.data(), bytes.size());
    }

    // One byte from the server, or -1 when nothing arrives within `timeout_ms`.
    int read_byte(int timeout_ms = 5000) {
        pollfd pfd{client_.get(), POLLIN, 0};
        if (::poll(&pfd, 1, timeout_ms) != 1) return -1;
        uint8_t b;
        return ::read(client_.get(), &b, 1) == 1 ? b : -1;
    }

    // Waits for the server to end on its own (after D, k, or the target exiting).
    GdbServer::End finish() { return served_.get(); }

    // Closes gdb's end, as a killed gdb would, and returns how the server ended.
    GdbServer::End hang_up() {
        client_.reset();
        return served_.get();
    }

    bool acks = true;

  private:
    UniqueFd client_;
    UniqueFd server_fd_;
    std::future<GdbServer::End> served_;
};

}  // namespace xenolith::vmi::gdb::testing
