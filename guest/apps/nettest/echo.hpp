// A TCP echo through lwIP's raw API: a server that sends back whatever it receives, and a
// client that sends `total` bytes of a known pattern and checks every byte that comes back.
// All callbacks run on the network stack's threads; the app thread only starts things and
// polls done()/failure().
#pragma once

#include <pumice/net.hpp>

#include "lwip/tcp.h"

namespace nettest {

// Byte `i` of the stream the client sends: not periodic in any power of two.
inline uint8_t pattern_byte(size_t i) {
    return static_cast<uint8_t>(i * 131 + (i >> 11) + (i >> 19));
}

class EchoServer {
  public:
    EchoServer() = default;
    // Closes the listener and aborts the connections still open.
    ~EchoServer();
    EchoServer(const EchoServer&) = delete;
    EchoServer& operator=(const EchoServer&) = delete;
    // Listens on address:port, only on `interface` if given (tcp_bind_netif: its
    // connections then send through it, never lwIP's loopback); false when lwIP refuses.
    bool listen(pumice::net::Ipv4Address address, u16_t port,
                pumice::net::Interface* interface = nullptr);
    // Connections accepted, and bytes echoed over all of them.
    unsigned accepted() const { return accepted_; }
    size_t echoed() const { return echoed_; }
    // Connections not yet closed by their client.
    bool has_open() const { return open_ != nullptr; }
    const char* failure() const { return failure_; }

  private:
    struct Connection;
    static err_t on_accept(void* self, tcp_pcb* pcb, err_t err);
    static err_t on_receive(void* conn, tcp_pcb* pcb, pbuf* p, err_t err);
    static err_t on_sent(void* conn, tcp_pcb* pcb, u16_t len);
    static void on_error(void* conn, err_t err);
    static void flush(Connection& c);
    static void close(Connection& c);
    void forget(Connection& c);

    tcp_pcb* listener_ = nullptr;
    Connection* open_ = nullptr;
    unsigned accepted_ = 0;
    size_t echoed_ = 0;
    const char* failure_ = nullptr;
};

class EchoClient {
  public:
    explicit EchoClient(size_t total) : total_(total) {}
    // Aborts the connection if it is still open.
    ~EchoClient();
    EchoClient(const EchoClient&) = delete;
    EchoClient& operator=(const EchoClient&) = delete;
    // Connects from `local` (any address if is_any()) to server:port, through `interface`
    // if given, and starts sending.
    bool start(pumice::net::Ipv4Address local, pumice::net::Ipv4Address server, u16_t port,
               pumice::net::Interface* interface = nullptr);
    bool done() const { return received_ == total_ && closed_; }
    const char* failure() const { return failure_; }
    size_t sent() const { return sent_; }
    size_t received() const { return received_; }

  private:
    static err_t on_connected(void* self, tcp_pcb* pcb, err_t err);
    static err_t on_receive(void* self, tcp_pcb* pcb, pbuf* p, err_t err);
    static err_t on_sent(void* self, tcp_pcb* pcb, u16_t len);
    static void on_error(void* self, err_t err);
    void fill();
    void fail(const char* why);

    size_t total_;
    tcp_pcb* pcb_ = nullptr;
    size_t sent_ = 0;
    size_t received_ = 0;
    bool closed_ = false;
    const char* failure_ = nullptr;
};

}  // namespace nettest
