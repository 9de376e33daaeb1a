// One client of xenstored: a unix-socket client, or (next) a domain's shared ring. The
// transport feeds it the bytes the client sent and drains the bytes to send back: replies
// and watch events, each a struct xsd_sockmsg and its payload. Any thread may call any
// member; all of them serialize on the daemon's lock.
//
// This is the seam for the guest ring transport: a ring pump (ring.hpp) copies request
// bytes from the ring page into feed() and output from copy_output()/consume_output() into
// the response ring, kicking the event channel when wake() says there is more.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "backends/xenstored/domain_state.hpp"
#include "backends/xenstored/permissions.hpp"
#include "backends/xenstored/transaction.hpp"
#include "backends/xenstored/watches.hpp"

namespace xenolith::xenstored {

class Xenstored;

class Connection {
  public:
    // Called whenever output is queued for this connection, possibly from another
    // connection's thread and with the daemon's lock held: it must only signal (write an
    // eventfd, kick an event channel), never call back into xenstored.
    using Wake = std::function<void()>;

    // Socket clients are privileged domid 0; a guest ring is its unprivileged domain.
    Connection(Xenstored& daemon, uint32_t domid, bool privileged, Wake wake = {});
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Takes request bytes and answers every complete request. Returns how many bytes it
    // took: all of them, unless the outstanding-request quota stops it before the next
    // request (offer the rest again once output has drained), or the connection is closed.
    size_t feed(std::span<const uint8_t> bytes);
    size_t feed(std::string_view bytes);

    // Queued output: copy some of it, then consume what the transport actually sent.
    size_t output_size() const;
    size_t copy_output(std::span<uint8_t> dst) const;
    void consume_output(size_t n);
    // All queued output at once (tests, simple transports).
    std::string take_output();

    // The client broke the protocol (an oversized header): it gets nothing more and the
    // transport should drop it. close_reason() says what it did.
    bool closed() const;
    std::string close_reason() const;
    // Its domain was released: nothing more is read or sent.
    bool released() const;
    // feed() would take more bytes now.
    bool wants_input() const;

    // What the connection holds between requests (domain_state.hpp), for a domain saved
    // while its transport stands still; and that taken back, by a new connection before
    // its transport first runs. Restored transactions are doomed.
    Session session() const;
    void restore_session(const Session& session);

    uint32_t domid() const { return domid_; }
    bool privileged() const { return privileged_; }

  private:
    friend class Xenstored;

    struct Output {
        std::string bytes;
        bool event = false;
    };

    // The following run with the daemon's lock held.
    void queue(std::string message, bool event);
    void close(std::string reason);
    void drop_session();  // watches, transactions and queued output
    bool accepting() const;

    Xenstored& daemon_;
    const uint32_t domid_;
    const bool privileged_;
    Wake wake_;

    std::string in_;  // the request being received: header, then payload
    std::deque<Output> out_;
    size_t out_offset_ = 0;  // bytes of out_.front() already consumed
    size_t out_bytes_ = 0;
    uint32_t replies_queued_ = 0;
    uint32_t events_queued_ = 0;

    WatchList watches_;
    std::map<uint32_t, std::unique_ptr<Transaction>> transactions_;
    uint32_t next_transaction_id_ = 1;

    bool closed_ = false;
    std::string close_reason_;
    bool released_ = false;
};

}  // namespace xenolith::xenstored
