// pingpong: two domains bounce an interdomain event channel back and forth.
//
//   role=server peer=<domid>            allocates an unbound port for the peer, prints
//                                       `pingpong: port=<p>`, answers every event
//   role=client peer=<domid> port=<p>   binds to the server's port, sends `rounds=` pings
//                                       and waits for each pong, prints the round trip
// Both exit 0 after `rounds=` (default 1000) round trips.
#include <pumice/pumice.hpp>

using namespace pumice;

namespace {

WaitQueue arrived;
volatile uint64_t events_seen = 0;

void on_event(evtchn_port_t, void*) {
    arrived.notify_all([] { events_seen = events_seen + 1; });
}

// Waits until more than `seen` events have arrived.
void wait_beyond(uint64_t seen) {
    arrived.wait_until([seen] { return events_seen > seen; });
}

}  // namespace

int main() {
    const uint64_t rounds = cmdline::get_u64("rounds", 1000);
    const auto peer = static_cast<domid_t>(cmdline::get_u64("peer", 0));
    const char* role = cmdline::get_str("role", nullptr);
    if (!role || peer == 0) {
        printf("pingpong: need role=server|client and peer=<domid>\n");
        return 2;
    }
    evtchn_port_t port;
    if (strcmp(role, "server") == 0) {
        evtchn_alloc_unbound_t op{DOMID_SELF, peer, 0};
        long rc = hv::event_channel_op(EVTCHNOP_alloc_unbound, &op);
        if (rc) {
            printf("pingpong: alloc_unbound failed: %ld\n", rc);
            return 1;
        }
        port = op.port;
        events::bind(port, 0, on_event, nullptr);
        printf("pingpong: port=%u\n", port);
        for (uint64_t i = 0; i < rounds; ++i) {
            wait_beyond(i);
            events::send(port);
        }
        printf("pingpong: server answered %llu\n", static_cast<unsigned long long>(rounds));
        return 0;
    }
    evtchn_bind_interdomain_t op{peer, static_cast<evtchn_port_t>(cmdline::get_u64("port", 0)), 0};
    long rc = hv::event_channel_op(EVTCHNOP_bind_interdomain, &op);
    if (rc) {
        printf("pingpong: bind_interdomain failed: %ld\n", rc);
        return 1;
    }
    port = op.local_port;
    events::bind(port, 0, on_event, nullptr);
    uint64_t start = time::now_ns();
    for (uint64_t i = 0; i < rounds; ++i) {
        events::send(port);
        wait_beyond(i);
    }
    uint64_t ns = time::now_ns() - start;
    printf("pingpong: rounds=%llu ns_per_round=%llu\n", static_cast<unsigned long long>(rounds),
           static_cast<unsigned long long>(ns / (rounds ? rounds : 1)));
    return 0;
}
