// httpd's HTTP/1.1 server on lwIP's raw TCP API: one listener, connections kept alive
// until the client closes, asks to (Connection: close), errs, or idles for kIdleSeconds.
// Everything here runs on the stack's threads (lwIP callbacks) or, for listen(), on the
// stack's vCPU.
#pragma once

#include <pumice/net.hpp>
#include <pumice/netfront.hpp>

#include "lwip/tcp.h"

namespace httpd {

struct Counters {
    uint64_t requests = 0;  // responses started, any status
    uint64_t accepted = 0;  // connections
    uint32_t open = 0;
    uint64_t bytes_sent = 0;  // response bytes queued (heads and bodies)
    uint64_t started_ns = 0;
};

// What the built-in pages show about the domain (read once from the store at start).
struct Identity {
    char name[64] = "unknown";
    char domid[12] = "?";
};

class Server {
  public:
    Server(const Identity& identity, pumice::netfront::Device* vif)
        : identity_(identity), vif_(vif) {}
    // Binds `port` on every address and starts accepting; false when lwIP refuses.
    bool listen(uint16_t port);
    const Counters& counters() const { return counters_; }
    const Identity& identity() const { return identity_; }
    pumice::netfront::Device* vif() const { return vif_; }

    struct Connection;

  private:
    friend struct Connection;
    static err_t on_accept(void* self, tcp_pcb* pcb, err_t err);
    void count_request();

    Identity identity_;
    pumice::netfront::Device* vif_;
    tcp_pcb* listener_ = nullptr;
    Counters counters_;
};

}  // namespace httpd
