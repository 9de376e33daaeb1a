// Connections: bytes come in through on_recv into a head buffer; each complete head is
// parsed and answered in turn (pipelined requests wait in the buffer). A response is
// written as TCP's send buffer allows and continued from on_sent; /bytes bodies are written
// straight from the static pattern (lwIP keeps a reference, no copy).
#include "httpd/server.hpp"

#include <pumice/pumice.hpp>

#include "httpd/pages.hpp"
#include "httpd/request.hpp"

namespace httpd {
namespace {

using pumice::printf;
using pumice::snprintf;

constexpr uint8_t kPollHalfSeconds = 4;  // on_poll every 2 s
constexpr uint32_t kIdlePolls = 15;      // an idle keep-alive connection lasts 30 s
constexpr size_t kHeadMax = 512;

}  // namespace

struct Server::Connection {
    Server* server;
    tcp_pcb* pcb;
    char in[kMaxHead];
    size_t in_size = 0;
    uint64_t skip = 0;  // request body bytes still to discard
    bool peer_closed = false;
    bool closing = false;  // tcp_close wanted (retried from on_poll if it failed)
    uint32_t idle_polls = 0;
    bool dead = false;     // the pcb is no longer ours (closed or aborted): delete at the end
    bool aborted = false;  // ... by tcp_abort: the callback must return ERR_ABRT

    // The response being written.
    bool responding = false;
    bool close_after = false;
    char head[kHeadMax];
    size_t head_size = 0, head_sent = 0;
    Response response;
    bool send_body = false;  // not for HEAD
    uint64_t body_sent = 0;

    // Every callback ends here: deletes a dead connection, tells lwIP about an abort.
    static err_t leave(Connection* c);
    static err_t on_recv(void* arg, tcp_pcb* pcb, pbuf* p, err_t err);
    static err_t on_sent(void* arg, tcp_pcb* pcb, u16_t len);
    static err_t on_poll(void* arg, tcp_pcb* pcb);
    static void on_err(void* arg, err_t err);

    void take(pbuf* p);
    void process();
    void start(const Response& r, bool head_only, bool keep_alive, unsigned minor);
    bool write_some();
    void finish_response();
    void close();
    void abort();
    void free_body();
    ~Connection() { free_body(); }
};

bool Server::listen(uint16_t port) {
    tcp_pcb* pcb = tcp_new();
    if (!pcb) return false;
    if (tcp_bind(pcb, IP_ADDR_ANY, port) != ERR_OK) {
        tcp_close(pcb);
        return false;
    }
    listener_ = tcp_listen(pcb);
    if (!listener_) {
        tcp_close(pcb);
        return false;
    }
    counters_.started_ns = pumice::time::now_ns();
    tcp_arg(listener_, this);
    tcp_accept(listener_, on_accept);
    return true;
}

err_t Server::on_accept(void* self, tcp_pcb* pcb, err_t err) {
    auto* server = static_cast<Server*>(self);
    if (err != ERR_OK || !pcb) return ERR_VAL;
    auto* c = new Connection{};
    if (!c) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    c->server = server;
    c->pcb = pcb;
    ++server->counters_.accepted;
    ++server->counters_.open;
    tcp_arg(pcb, c);
    tcp_recv(pcb, Connection::on_recv);
    tcp_sent(pcb, Connection::on_sent);
    tcp_err(pcb, Connection::on_err);
    tcp_poll(pcb, Connection::on_poll, kPollHalfSeconds);
    tcp_nagle_disable(pcb);  // each response ends with tcp_output anyway
    return ERR_OK;
}

void Server::count_request() {
    if (++counters_.requests % 1000 == 0) {
        printf("httpd: requests=%llu connections=%llu open=%u\n",
               static_cast<unsigned long long>(counters_.requests),
               static_cast<unsigned long long>(counters_.accepted), counters_.open);
    }
}

// ---- input ------------------------------------------------------------------------------

err_t Server::Connection::on_recv(void* arg, tcp_pcb*, pbuf* p, err_t err) {
    auto* c = static_cast<Connection*>(arg);
    if (!p || err != ERR_OK) {
        if (p) pbuf_free(p);
        c->peer_closed = true;
        if (!c->responding) c->close();  // else after the response in flight
        return leave(c);
    }
    c->take(p);
    if (!c->closing) c->process();
    return leave(c);
}

err_t Server::Connection::leave(Connection* c) {
    if (!c->dead) return ERR_OK;
    err_t result = c->aborted ? ERR_ABRT : ERR_OK;
    delete c;
    return result;
}

// Appends what fits (after skipping body bytes) and acknowledges all of it: a head longer
// than the buffer is answered with 431 and the connection closed, so bytes beyond it are
// not needed.
void Server::Connection::take(pbuf* p) {
    uint16_t total = p->tot_len, offset = 0;
    if (skip) {
        uint16_t n = skip < total ? static_cast<uint16_t>(skip) : total;
        skip -= n;
        offset = n;
    }
    size_t room = sizeof(in) - in_size;
    size_t want = static_cast<size_t>(total - offset);
    size_t n = want < room ? want : room;
    if (n) in_size += pbuf_copy_partial(p, in + in_size, static_cast<u16_t>(n), offset);
    tcp_recved(pcb, total);
    pbuf_free(p);
    idle_polls = 0;
}

// Answers the next complete head in the buffer, unless a response is still being written.
void Server::Connection::process() {
    while (!responding && !closing && !dead) {
        if (skip && in_size) {  // a body that arrived together with its head
            size_t n = skip < in_size ? static_cast<size_t>(skip) : in_size;
            memmove(in, in + n, in_size - n);
            in_size -= n;
            skip -= n;
        }
        size_t head = head_length(in, in_size);
        if (head == 0 && in_size == sizeof(in)) {
            start(error(431), false, false, 1);
            in_size = 0;
            write_some();
            return;
        }
        if (head == 0) {
            if (peer_closed) close();
            return;
        }
        Request request;
        int status = parse(in, head, &request);
        bool head_only = status == 0 && request.method.equals("HEAD");
        if (status) {
            start(error(status), false, false, 1);
        } else {
            start(route(request, *server), head_only, request.keep_alive && !peer_closed,
                  request.minor);
            skip = request.content_length;
        }
        memmove(in, in + head, in_size - head);
        in_size -= head;
        if (!write_some()) return;
    }
}

// ---- output -----------------------------------------------------------------------------

void Server::Connection::start(const Response& r, bool head_only, bool keep_alive, unsigned minor) {
    free_body();
    response = r;
    close_after = !keep_alive || (r.status >= 400 && r.status != 404 && r.status != 405);
    send_body = !head_only;
    body_sent = head_sent = 0;
    const char* connection = close_after ? "close" : "keep-alive";
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.%u %d %s\r\nServer: xenolith-httpd\r\nContent-Type: %s\r\n"
                     "Content-Length: %llu\r\n%sConnection: %s\r\n\r\n",
                     minor ? 1u : 0u, r.status, reason(r.status), r.content_type,
                     static_cast<unsigned long long>(r.body_size()),
                     r.allow_header ? "Allow: GET, HEAD\r\n" : "", connection);
    head_size = static_cast<size_t>(n) < sizeof(head) ? static_cast<size_t>(n) : sizeof(head) - 1;
    responding = true;
    server->count_request();
}

// Writes as much of the response as TCP takes; true when it is complete (and finished).
bool Server::Connection::write_some() {
    const uint64_t body = send_body ? response.body_size() : 0;
    while (head_sent < head_size || body_sent < body) {
        uint32_t room = tcp_sndbuf(pcb);
        if (room == 0 || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 1) break;
        const void* data;
        size_t n;
        u8_t flags = 0;
        if (head_sent < head_size) {
            data = head + head_sent;
            n = head_size - head_sent;
            flags = TCP_WRITE_FLAG_COPY;
        } else if (response.text) {
            data = response.text + body_sent;
            n = static_cast<size_t>(body - body_sent);
            flags = TCP_WRITE_FLAG_COPY;
        } else {
            // Static memory: lwIP references it instead of copying.
            uint64_t left = body - body_sent;
            data = pattern_block() + body_sent % 64;
            n = static_cast<size_t>(left < kPatternBlock ? left : kPatternBlock);
        }
        if (n > room) n = room;
        if (n > 0xffff) n = 0xffff;
        if ((head_size - head_sent) + (body - body_sent) > n) flags |= TCP_WRITE_FLAG_MORE;
        err_t err = tcp_write(pcb, data, static_cast<u16_t>(n), flags);
        if (err == ERR_MEM) break;  // on_sent continues
        if (err != ERR_OK) {
            abort();
            return false;
        }
        server->counters_.bytes_sent += n;
        if (head_sent < head_size)
            head_sent += n;
        else
            body_sent += n;
    }
    tcp_output(pcb);
    if (head_sent < head_size || body_sent < body) return false;
    finish_response();
    return !dead && !closing;
}

void Server::Connection::finish_response() {
    responding = false;
    free_body();
    if (close_after || peer_closed) close();
}

err_t Server::Connection::on_sent(void* arg, tcp_pcb*, u16_t) {
    auto* c = static_cast<Connection*>(arg);
    c->idle_polls = 0;
    if (c->responding && c->write_some()) c->process();
    return leave(c);
}

err_t Server::Connection::on_poll(void* arg, tcp_pcb*) {
    auto* c = static_cast<Connection*>(arg);
    if (c->closing) {
        c->close();  // a close that failed for lack of memory
    } else if (c->responding) {
        if (c->write_some()) c->process();
    } else if (++c->idle_polls >= kIdlePolls) {
        c->close();
    }
    return leave(c);
}

void Server::Connection::on_err(void* arg, err_t) {
    // lwIP has freed the pcb already.
    auto* c = static_cast<Connection*>(arg);
    if (!c) return;
    --c->server->counters_.open;
    delete c;
}

// Queued data is still sent, then FIN. On success the pcb is lwIP's alone and the
// connection dead (deleted when the callback leaves).
void Server::Connection::close() {
    if (dead) return;
    closing = true;
    tcp_recv(pcb, nullptr);
    if (tcp_close(pcb) != ERR_OK) return;  // retried from on_poll
    tcp_arg(pcb, nullptr);
    tcp_sent(pcb, nullptr);
    tcp_err(pcb, nullptr);
    tcp_poll(pcb, nullptr, 0);
    --server->counters_.open;
    dead = true;
}

void Server::Connection::abort() {
    if (dead) return;
    tcp_arg(pcb, nullptr);
    tcp_err(pcb, nullptr);
    tcp_abort(pcb);
    --server->counters_.open;
    dead = aborted = true;
}

void Server::Connection::free_body() {
    free(response.text);
    response.text = nullptr;
}

}  // namespace httpd
