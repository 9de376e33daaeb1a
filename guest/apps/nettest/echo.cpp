#include "nettest/echo.hpp"

#include <pumice/pumice.hpp>

namespace nettest {

using pumice::net::Ipv4Address;

namespace {

ip_addr_t to_lwip(Ipv4Address address) {
    ip_addr_t out;
    ip4_addr_set_u32(&out, lwip_htonl(address.host_order()));
    return out;
}

}  // namespace

// ---- server ------------------------------------------------------------------------------

// What one accepted connection has received but not yet written back: TCP only takes as
// much as its send buffer has room for, and the rest waits for on_sent.
struct EchoServer::Connection {
    EchoServer* server;
    tcp_pcb* pcb;
    Connection* next;  // in server->open_
    pbuf* pending = nullptr;
    size_t offset = 0;  // into pending's first pbuf
};

EchoServer::~EchoServer() {
    if (listener_) tcp_close(listener_);
    while (Connection* c = open_) {
        open_ = c->next;
        tcp_arg(c->pcb, nullptr);
        tcp_err(c->pcb, nullptr);
        tcp_abort(c->pcb);
        if (c->pending) pbuf_free(c->pending);
        delete c;
    }
}

void EchoServer::forget(Connection& c) {
    for (Connection** link = &open_; *link; link = &(*link)->next) {
        if (*link == &c) {
            *link = c.next;
            return;
        }
    }
}

bool EchoServer::listen(Ipv4Address address, u16_t port, pumice::net::Interface* interface) {
    tcp_pcb* pcb = tcp_new();
    if (!pcb) return false;
    if (interface) tcp_bind_netif(pcb, interface->lwip_netif());
    ip_addr_t ip = to_lwip(address);
    if (tcp_bind(pcb, &ip, port) != ERR_OK) {
        tcp_close(pcb);
        return false;
    }
    listener_ = tcp_listen(pcb);  // frees pcb, or returns nullptr and keeps it
    if (!listener_) {
        tcp_close(pcb);
        return false;
    }
    tcp_arg(listener_, this);
    tcp_accept(listener_, on_accept);
    return true;
}

err_t EchoServer::on_accept(void* self, tcp_pcb* pcb, err_t err) {
    auto* server = static_cast<EchoServer*>(self);
    if (err != ERR_OK || !pcb) {
        server->failure_ = "accept failed";
        return ERR_VAL;
    }
    auto* c = new Connection{server, pcb, server->open_};
    server->open_ = c;
    ++server->accepted_;
    tcp_arg(pcb, c);
    tcp_recv(pcb, on_receive);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_error);
    return ERR_OK;
}

err_t EchoServer::on_receive(void* conn, tcp_pcb*, pbuf* p, err_t err) {
    auto& c = *static_cast<Connection*>(conn);
    if (err != ERR_OK) {
        if (p) pbuf_free(p);
        c.server->failure_ = "server receive error";
        return err;
    }
    if (!p) {  // the client closed its side
        close(c);
        return ERR_OK;
    }
    if (c.pending)
        pbuf_cat(c.pending, p);
    else
        c.pending = p;
    flush(c);
    return ERR_OK;
}

err_t EchoServer::on_sent(void* conn, tcp_pcb*, u16_t) {
    flush(*static_cast<Connection*>(conn));
    return ERR_OK;
}

void EchoServer::on_error(void* conn, err_t) {
    // lwIP has freed the pcb already.
    auto* c = static_cast<Connection*>(conn);
    c->server->failure_ = "server connection aborted";
    c->server->forget(*c);
    if (c->pending) pbuf_free(c->pending);
    delete c;
}

// Writes back as much of `pending` as the send buffer takes, and only then opens the
// receive window by as much (tcp_recved): the client can never outrun the echo.
void EchoServer::flush(Connection& c) {
    while (c.pending) {
        pbuf* q = c.pending;
        size_t room = tcp_sndbuf(c.pcb);
        size_t chunk = q->len - c.offset;
        if (chunk > room) chunk = room;
        if (chunk == 0) break;
        err_t err = tcp_write(c.pcb, static_cast<uint8_t*>(q->payload) + c.offset,
                              static_cast<u16_t>(chunk), TCP_WRITE_FLAG_COPY);
        if (err == ERR_MEM) break;
        if (err != ERR_OK) {
            c.server->failure_ = "server tcp_write failed";
            break;
        }
        c.offset += chunk;
        c.server->echoed_ += chunk;
        tcp_recved(c.pcb, static_cast<u16_t>(chunk));
        if (c.offset == q->len) {
            c.pending = pbuf_dechain(q);
            pbuf_free(q);
            c.offset = 0;
        }
    }
    tcp_output(c.pcb);
}

void EchoServer::close(Connection& c) {
    tcp_arg(c.pcb, nullptr);
    tcp_recv(c.pcb, nullptr);
    tcp_sent(c.pcb, nullptr);
    tcp_err(c.pcb, nullptr);
    if (tcp_close(c.pcb) != ERR_OK) tcp_abort(c.pcb);
    c.server->forget(c);
    if (c.pending) pbuf_free(c.pending);
    delete &c;
}

// ---- client ------------------------------------------------------------------------------

EchoClient::~EchoClient() {
    if (pcb_) {
        tcp_arg(pcb_, nullptr);
        tcp_abort(pcb_);
    }
}

bool EchoClient::start(Ipv4Address local, Ipv4Address server, u16_t port,
                       pumice::net::Interface* interface) {
    pcb_ = tcp_new();
    if (!pcb_) return false;
    if (interface) tcp_bind_netif(pcb_, interface->lwip_netif());
    tcp_arg(pcb_, this);
    tcp_err(pcb_, on_error);
    tcp_recv(pcb_, on_receive);
    tcp_sent(pcb_, on_sent);
    ip_addr_t from = to_lwip(local), to = to_lwip(server);
    if (!local.is_any() && tcp_bind(pcb_, &from, 0) != ERR_OK) return false;
    return tcp_connect(pcb_, &to, port, on_connected) == ERR_OK;
}

void EchoClient::fail(const char* why) {
    if (!failure_) failure_ = why;
    if (pcb_) {
        tcp_arg(pcb_, nullptr);
        tcp_abort(pcb_);
        pcb_ = nullptr;
    }
}

err_t EchoClient::on_connected(void* self, tcp_pcb*, err_t err) {
    auto& client = *static_cast<EchoClient*>(self);
    if (err != ERR_OK) {
        client.failure_ = "connect failed";
        return err;
    }
    client.fill();
    return ERR_OK;
}

// Sends the next part of the pattern, as much as the send buffer has room for.
void EchoClient::fill() {
    uint8_t chunk[2048];
    while (sent_ < total_) {
        size_t n = total_ - sent_;
        if (n > sizeof(chunk)) n = sizeof(chunk);
        if (n > tcp_sndbuf(pcb_)) n = tcp_sndbuf(pcb_);
        if (n == 0) break;
        for (size_t i = 0; i < n; ++i) chunk[i] = pattern_byte(sent_ + i);
        err_t err = tcp_write(pcb_, chunk, static_cast<u16_t>(n), TCP_WRITE_FLAG_COPY);
        if (err == ERR_MEM) break;
        if (err != ERR_OK) return fail("client tcp_write failed");
        sent_ += n;
    }
    tcp_output(pcb_);
}

err_t EchoClient::on_sent(void* self, tcp_pcb*, u16_t) {
    static_cast<EchoClient*>(self)->fill();
    return ERR_OK;
}

err_t EchoClient::on_receive(void* self, tcp_pcb* pcb, pbuf* p, err_t err) {
    auto& client = *static_cast<EchoClient*>(self);
    if (err != ERR_OK || !p) {
        if (p) pbuf_free(p);
        client.fail(p ? "client receive error" : "server closed before the echo was complete");
        return ERR_ABRT;
    }
    size_t len = p->tot_len;
    if (client.received_ + len > client.total_) {
        pbuf_free(p);
        client.fail("more bytes came back than were sent");
        return ERR_ABRT;
    }
    for (pbuf* q = p; q; q = q->next) {
        auto* bytes = static_cast<const uint8_t*>(q->payload);
        for (size_t i = 0; i < q->len; ++i, ++client.received_) {
            if (bytes[i] != pattern_byte(client.received_)) {
                pbuf_free(p);
                client.fail("echoed byte differs from what was sent");
                return ERR_ABRT;
            }
        }
    }
    tcp_recved(pcb, static_cast<u16_t>(len));
    pbuf_free(p);
    if (client.received_ == client.total_) {
        tcp_arg(pcb, nullptr);
        tcp_err(pcb, nullptr);
        tcp_recv(pcb, nullptr);
        tcp_sent(pcb, nullptr);
        if (tcp_close(pcb) != ERR_OK) tcp_abort(pcb);
        client.pcb_ = nullptr;
        client.closed_ = true;
        return ERR_OK;
    }
    return ERR_OK;
}

void EchoClient::on_error(void* self, err_t err) {
    // lwIP has freed the pcb already.
    if (!self) return;
    auto& client = *static_cast<EchoClient*>(self);
    client.pcb_ = nullptr;
    if (!client.failure_) {
        static char why[48];
        pumice::snprintf(why, sizeof(why), "client connection error %d", err);
        client.failure_ = why;
    }
}

}  // namespace nettest
