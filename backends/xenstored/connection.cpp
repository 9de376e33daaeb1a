#include "backends/xenstored/connection.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "backends/xenstored/wire.hpp"
#include "backends/xenstored/xenstored.hpp"

namespace xenolith::xenstored {

Connection::Connection(Xenstored& daemon, uint32_t domid, bool privileged, Wake wake)
    : daemon_(daemon), domid_(domid), privileged_(privileged), wake_(std::move(wake)) {
    daemon_.attach(this);
}

Connection::~Connection() {
    std::lock_guard lock(daemon_.mutex_);
    daemon_.detach(this);
}

bool Connection::accepting() const {
    return !closed_ && !released_ && replies_queued_ < daemon_.quotas_.outstanding_requests;
}

size_t Connection::feed(std::string_view bytes) {
    return feed(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

size_t Connection::feed(std::span<const uint8_t> bytes) {
    std::lock_guard lock(daemon_.mutex_);
    size_t used = 0;
    while (used < bytes.size()) {
        // Between requests, stop while too many replies wait for the transport: the client
        // is not reading them, so it gets no more service (Xen's outstanding-request quota).
        if (in_.empty() && !accepting()) break;
        if (closed_ || released_) break;
        size_t want = kHeaderSize - std::min(in_.size(), kHeaderSize);
        if (in_.size() >= kHeaderSize) {
            xsd_sockmsg header;
            std::memcpy(&header, in_.data(), kHeaderSize);
            want = kHeaderSize + header.len - in_.size();
        }
        size_t take = std::min(want, bytes.size() - used);
        in_.append(reinterpret_cast<const char*>(bytes.data() + used), take);
        used += take;
        if (in_.size() < kHeaderSize) continue;

        xsd_sockmsg header;
        std::memcpy(&header, in_.data(), kHeaderSize);
        // A hostile or broken header: Xen drops such a client, since nothing after it can
        // be framed. The daemon itself is unaffected.
        if (header.len > XENSTORE_PAYLOAD_MAX) {
            close("request payload of " + std::to_string(header.len) +
                  " bytes exceeds XENSTORE_PAYLOAD_MAX (" + std::to_string(XENSTORE_PAYLOAD_MAX) +
                  ")");
            break;
        }
        if (in_.size() < kHeaderSize + header.len) continue;
        std::string message = std::move(in_);
        in_.clear();
        daemon_.process(*this, header, std::string_view(message).substr(kHeaderSize));
    }
    return used;
}

void Connection::queue(std::string message, bool event) {
    if (closed_ || released_) return;
    out_bytes_ += message.size();
    (event ? events_queued_ : replies_queued_)++;
    out_.push_back({std::move(message), event});
    if (wake_) wake_();
}

size_t Connection::output_size() const {
    std::lock_guard lock(daemon_.mutex_);
    return out_bytes_;
}

size_t Connection::copy_output(std::span<uint8_t> dst) const {
    std::lock_guard lock(daemon_.mutex_);
    size_t copied = 0;
    size_t skip = out_offset_;
    for (const Output& o : out_) {
        if (copied == dst.size()) break;
        size_t n = std::min(o.bytes.size() - skip, dst.size() - copied);
        std::memcpy(dst.data() + copied, o.bytes.data() + skip, n);
        copied += n;
        skip = 0;
    }
    return copied;
}

void Connection::consume_output(size_t n) {
    std::lock_guard lock(daemon_.mutex_);
    n = std::min(n, out_bytes_);
    out_bytes_ -= n;
    while (n > 0) {
        Output& front = out_.front();
        size_t left = front.bytes.size() - out_offset_;
        if (n < left) {
            out_offset_ += n;
            break;
        }
        n -= left;
        (front.event ? events_queued_ : replies_queued_)--;
        out_.pop_front();
        out_offset_ = 0;
    }
}

std::string Connection::take_output() {
    std::lock_guard lock(daemon_.mutex_);
    std::string out;
    out.resize(out_bytes_);
    copy_output(std::span(reinterpret_cast<uint8_t*>(out.data()), out.size()));
    consume_output(out.size());
    return out;
}

Session Connection::session() const {
    std::lock_guard lock(daemon_.mutex_);
    Session s;
    s.partial_request = in_;
    size_t skip = out_offset_;
    for (const Output& o : out_) {
        s.output.push_back({o.bytes.substr(skip), o.event});
        skip = 0;
    }
    s.watches = watches_.all();
    for (const auto& [id, tx] : transactions_) s.transactions.push_back(id);
    s.next_transaction_id = next_transaction_id_;
    return s;
}

void Connection::restore_session(const Session& s) {
    std::lock_guard lock(daemon_.mutex_);
    drop_session();
    in_ = s.partial_request;
    for (const SessionOutput& o : s.output) queue(o.bytes, o.event);
    for (const Watch& w : s.watches) watches_.add(w);
    for (uint32_t id : s.transactions) {
        auto tx = std::make_unique<Transaction>(daemon_.tree_, id);
        tx->doom();
        transactions_.emplace(id, std::move(tx));
    }
    next_transaction_id_ = s.next_transaction_id;
}

bool Connection::closed() const {
    std::lock_guard lock(daemon_.mutex_);
    return closed_;
}

std::string Connection::close_reason() const {
    std::lock_guard lock(daemon_.mutex_);
    return close_reason_;
}

bool Connection::released() const {
    std::lock_guard lock(daemon_.mutex_);
    return released_;
}

bool Connection::wants_input() const {
    std::lock_guard lock(daemon_.mutex_);
    return accepting();
}

void Connection::close(std::string reason) {
    drop_session();
    closed_ = true;
    close_reason_ = std::move(reason);
    if (wake_) wake_();
}

void Connection::drop_session() {
    watches_.clear();
    transactions_.clear();
    out_.clear();
    out_offset_ = 0;
    out_bytes_ = 0;
    replies_queued_ = 0;
    events_queued_ = 0;
    in_.clear();
}

}  // namespace xenolith::xenstored
