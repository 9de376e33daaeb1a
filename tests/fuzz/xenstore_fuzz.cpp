// Arbitrary bytes as xenstore traffic from three clients at once (dom0, and guests 1 and 2),
// so that watches, transactions, permissions and quotas of one meet the requests of the
// others; and the same bytes through a guest's shared ring page. The input is a sequence of
// chunks: one selector byte (which client; whether its output is drained), a 16-bit length,
// that many bytes. A crash, a sanitizer report or output that is not whole, bounded
// messages is a bug; errors and closed connections are expected answers.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backends/xenstored/connection.hpp"
#include "backends/xenstored/ring.hpp"
#include "backends/xenstored/wire.hpp"
#include "backends/xenstored/xenstored.hpp"

using namespace xenolith::xenstored;

namespace {

// Every message whole, every payload within XENSTORE_PAYLOAD_MAX, every type a real one.
void check_output(std::string_view out) {
    while (!out.empty()) {
        if (out.size() < kHeaderSize) __builtin_trap();
        xsd_sockmsg h;
        std::memcpy(&h, out.data(), kHeaderSize);
        if (h.len > XENSTORE_PAYLOAD_MAX || h.type >= XS_TYPE_COUNT) __builtin_trap();
        if (out.size() < kHeaderSize + h.len) __builtin_trap();
        out.remove_prefix(kHeaderSize + h.len);
    }
}

std::string request(uint32_t type, std::string_view payload) {
    return encode_message(type, 1, 0, payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // Small quotas, so that inputs reach them.
    Quotas q;
    q.nodes_per_domain = 20;
    q.value_size = 64;
    q.watches_per_domain = 4;
    q.transactions_per_domain = 2;
    q.nodes_per_transaction = 32;
    q.outstanding_requests = 8;
    q.queued_watch_events = 16;
    Xenstored daemon(q);
    std::vector<std::unique_ptr<Connection>> conns;
    conns.push_back(std::make_unique<Connection>(daemon, 0, true));
    conns.push_back(std::make_unique<Connection>(daemon, 1, false));
    conns.push_back(std::make_unique<Connection>(daemon, 2, false));
    // A small world: guests 1 and 2 introduced, each owning its home.
    Connection& dom0 = *conns[0];
    using namespace std::string_literals;
    dom0.feed(request(XS_INTRODUCE,
                      "1\0"
                      "1\0"
                      "1\0"s));
    dom0.feed(request(XS_INTRODUCE,
                      "2\0"
                      "2\0"
                      "2\0"s));
    dom0.feed(request(XS_WRITE, "/local/domain/1\0"s));
    dom0.feed(request(XS_SET_PERMS, "/local/domain/1\0n1\0r2\0"s));
    dom0.feed(request(XS_WRITE, "/local/domain/2\0"s));
    dom0.feed(request(XS_SET_PERMS, "/local/domain/2\0n2\0"s));
    dom0.take_output();

    // The bytes also go, in order, through guest 1's ring on a second connection.
    alignas(8) static uint8_t page[4096];
    std::memset(page, 0, sizeof(page));
    auto* intf = reinterpret_cast<xenstore_domain_interface*>(page);
    Connection ring_conn(daemon, 1, false);
    bool ring_broken = false;

    size_t pos = 0;
    while (pos + 3 <= size) {
        const uint8_t selector = data[pos];
        const size_t len = std::min<size_t>(size - pos - 3, data[pos + 1] | (data[pos + 2] << 8));
        std::string_view chunk(reinterpret_cast<const char*>(data + pos + 3), len);
        pos += 3 + len;

        Connection& conn = *conns[selector % conns.size()];
        size_t used = conn.feed(chunk);
        if (used > chunk.size()) __builtin_trap();
        if (selector & 0x80) {
            std::string out = conn.take_output();
            check_output(out);
        }
        if (conn.closed() && (selector & 0x40)) {  // a reconnecting client
            size_t i = selector % conns.size();
            conns[i] =
                std::make_unique<Connection>(daemon, conns[i]->domid(), conns[i]->privileged());
        }

        // The ring: copy what fits into req[], pump, let the guest take the replies.
        if (!ring_broken) {
            size_t fits = XENSTORE_RING_SIZE - (intf->req_prod - intf->req_cons);
            for (size_t i = 0; i < std::min(fits, chunk.size()); ++i) {
                intf->req[MASK_XENSTORE_IDX(intf->req_prod)] = chunk[i];
                intf->req_prod++;
            }
            if (selector & 0x20) intf->rsp_cons = intf->rsp_prod;  // the guest read it all
            if (selector & 0x10) intf->req_prod += selector;       // a hostile index
            ring_broken = pump_ring(std::span<uint8_t>(page, sizeof(page)), ring_conn).broken;
        }
    }
    for (auto& c : conns) check_output(c->take_output());
    return 0;
}
