// A test client for xenstored: a Connection driven by hand, one request at a time, with
// replies parsed back from the wire. Operations return the reply's value, or the error's
// name ("EACCES") when xenstored answered XS_ERROR; the tests' values never look like one.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "backends/xenstored/connection.hpp"
#include "backends/xenstored/wire.hpp"
#include "backends/xenstored/xenstored.hpp"

namespace xenolith::xenstored::testing {

struct Message {
    uint32_t type = 0;
    uint32_t req_id = 0;
    uint32_t tx_id = 0;
    std::string payload;
};

// Splits a byte stream of whole messages.
inline std::vector<Message> parse_messages(std::string_view bytes) {
    std::vector<Message> out;
    while (bytes.size() >= kHeaderSize) {
        xsd_sockmsg h;
        std::memcpy(&h, bytes.data(), kHeaderSize);
        EXPECT_LE(h.len, XENSTORE_PAYLOAD_MAX);
        EXPECT_GE(bytes.size(), kHeaderSize + h.len);
        if (bytes.size() < kHeaderSize + h.len) break;
        out.push_back({h.type, h.req_id, h.tx_id, std::string(bytes.substr(kHeaderSize, h.len))});
        bytes.remove_prefix(kHeaderSize + h.len);
    }
    EXPECT_TRUE(bytes.empty()) << "a partial message in the output";
    return out;
}

inline std::string nul(std::initializer_list<std::string_view> strings) {
    std::string out;
    for (auto s : strings) {
        out += s;
        out += '\0';
    }
    return out;
}

class Client {
  public:
    Client(Xenstored& daemon, uint32_t domid, bool privileged)
        : conn_(daemon, domid, privileged, [this] { ++wakes_; }) {}

    Connection& conn() { return conn_; }
    int wakes() const { return wakes_; }

    // Sends one request and returns its reply; watch events that arrive are kept.
    Message request(uint32_t type, std::string_view payload, uint32_t tx = 0) {
        uint32_t id = ++req_id_;
        std::string msg = encode_message(type, id, tx, payload);
        EXPECT_EQ(conn_.feed(msg), msg.size());
        collect();
        for (auto it = replies_.begin(); it != replies_.end(); ++it) {
            if (it->req_id == id) {
                Message m = *it;
                replies_.erase(it);
                EXPECT_EQ(m.tx_id, tx);
                if (m.type != XS_ERROR) {
                    EXPECT_EQ(m.type, type);
                }
                return m;
            }
        }
        ADD_FAILURE() << "no reply to " << type_name(type);
        return {};
    }

    // The reply's payload, the error name for XS_ERROR, "OK" for "OK\0".
    std::string call(uint32_t type, std::string_view payload, uint32_t tx = 0) {
        Message m = request(type, payload, tx);
        if (m.type == XS_ERROR) {
            EXPECT_FALSE(m.payload.empty());
            EXPECT_EQ(m.payload.back(), '\0');
            return m.payload.substr(0, m.payload.size() - 1);
        }
        return m.payload;
    }
    static std::string strip(std::string s) {
        if (!s.empty() && s.back() == '\0') s.pop_back();
        return s;
    }

    std::string read(std::string_view path, uint32_t tx = 0) {
        return call(XS_READ, nul({path}), tx);
    }
    std::string write(std::string_view path, std::string_view value, uint32_t tx = 0) {
        std::string p(path);
        p += '\0';
        p += value;
        return strip(call(XS_WRITE, p, tx));
    }
    std::string mkdir(std::string_view path, uint32_t tx = 0) {
        return strip(call(XS_MKDIR, nul({path}), tx));
    }
    std::string rm(std::string_view path, uint32_t tx = 0) {
        return strip(call(XS_RM, nul({path}), tx));
    }
    // Children joined by spaces, or the error name.
    std::string dir(std::string_view path, uint32_t tx = 0) {
        Message m = request(XS_DIRECTORY, nul({path}), tx);
        if (m.type == XS_ERROR) return strip(m.payload);
        std::string out;
        for (auto s : split_strings(m.payload)) {
            if (!out.empty()) out += ' ';
            out += s;
        }
        return out;
    }
    // "n0,r1", or the error name.
    std::string get_perms(std::string_view path) {
        Message m = request(XS_GET_PERMS, nul({path}));
        if (m.type == XS_ERROR) return strip(m.payload);
        std::string out;
        for (auto s : split_strings(m.payload)) {
            if (!out.empty()) out += ',';
            out += s;
        }
        return out;
    }
    std::string set_perms(std::string_view path, std::vector<std::string_view> perms) {
        std::string p(path);
        p += '\0';
        for (auto s : perms) {
            p += s;
            p += '\0';
        }
        return strip(call(XS_SET_PERMS, p));
    }
    std::string watch(std::string_view path, std::string_view token) {
        return strip(call(XS_WATCH, nul({path, token})));
    }
    std::string unwatch(std::string_view path, std::string_view token) {
        return strip(call(XS_UNWATCH, nul({path, token})));
    }
    // A new transaction's id (0 and a test failure if refused).
    uint32_t start() {
        std::string r = strip(call(XS_TRANSACTION_START, nul({""})));
        auto id = parse_decimal(r, UINT32_MAX);
        EXPECT_TRUE(id.has_value()) << r;
        return id ? static_cast<uint32_t>(*id) : 0;
    }
    std::string end(uint32_t tx, bool commit) {
        return strip(call(XS_TRANSACTION_END, nul({commit ? "T" : "F"}), tx));
    }

    // Watch events received so far, as "path token" strings, oldest first; clears them.
    std::vector<std::string> events() {
        collect();
        std::vector<std::string> out;
        for (const Message& m : events_) {
            auto s = split_strings(m.payload);
            EXPECT_EQ(s.size(), 2u);
            EXPECT_EQ(m.req_id, 0u);
            if (s.size() == 2) out.push_back(std::string(s[0]) + " " + std::string(s[1]));
        }
        events_.clear();
        return out;
    }

    // Everything queued, parsed, in order (replies and events alike).
    void collect() {
        for (Message& m : parse_messages(conn_.take_output())) {
            if (m.type == XS_WATCH_EVENT) {
                events_.push_back(std::move(m));
            } else {
                replies_.push_back(std::move(m));
            }
        }
    }

  private:
    Connection conn_;
    int wakes_ = 0;
    uint32_t req_id_ = 100;
    std::deque<Message> replies_;
    std::vector<Message> events_;
};

using Events = std::vector<std::string>;

// dom0 (privileged, as the socket's clients are) and two guests, 1 and 2, introduced.
class XenstoredTest : public ::testing::Test {
  protected:
    explicit XenstoredTest(Quotas quotas = {}) : daemon_(quotas) {}
    void SetUp() override {
        EXPECT_EQ(dom0.call(XS_INTRODUCE, nul({"1", "4660", "3"})), std::string("OK", 3));
        EXPECT_EQ(dom0.call(XS_INTRODUCE, nul({"2", "4661", "3"})), std::string("OK", 3));
        EXPECT_EQ(dom0.mkdir("/local/domain/1"), "OK");
        EXPECT_EQ(dom0.set_perms("/local/domain/1", {"n1"}), "OK");
        EXPECT_EQ(dom0.mkdir("/local/domain/2"), "OK");
        EXPECT_EQ(dom0.set_perms("/local/domain/2", {"n2"}), "OK");
    }

    Xenstored daemon_;
    Client dom0{daemon_, 0, true};
    Client dom1{daemon_, 1, false};
    Client dom2{daemon_, 2, false};
};

}  // namespace xenolith::xenstored::testing
