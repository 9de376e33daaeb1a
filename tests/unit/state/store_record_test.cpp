// The XENSTORE record (state/store_record.hpp): it round-trips a domain's store state, and
// refuses a body that is short, long, counts too much, or carries what xenstored would not.
#include "state/store_record.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "backends/xenstored/wire.hpp"

namespace xenolith::state {
namespace {

Record as_record(std::vector<uint8_t> body) {
    return Record{RecordType::Xenstore, std::move(body), 8192};
}

StoreRecord sample() {
    StoreRecord s;
    s.ring_gpa = 0x7000;
    s.port = 2;
    s.state.domid = 4;
    s.state.nodes = {{"/local/domain/4", "", *xenstored::Permissions::parse({"n0", "r4"})},
                     {"/local/domain/4/data/x", "value", xenstored::Permissions(4)}};
    s.state.session.partial_request = std::string("\x02\x00\x00\x00", 4);
    s.state.session.output = {{"rest of a reply", false}, {"an event", true}};
    s.state.session.watches = {{"/local/domain/4/control/shutdown", "tok", true}};
    s.state.session.transactions = {3, 5};
    s.state.session.next_transaction_id = 6;
    return s;
}

TEST(StoreRecord, RoundTrips) {
    const StoreRecord s = sample();
    EXPECT_EQ(decode_store(as_record(encode_store(s))), s);
}

TEST(StoreRecord, EveryTruncationAndAnExtraByteAreRefused) {
    const std::vector<uint8_t> good = encode_store(sample());
    for (size_t n = 0; n < good.size(); ++n) {
        std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<long>(n));
        EXPECT_THROW(decode_store(as_record(cut)), StreamError) << n;
    }
    std::vector<uint8_t> longer = good;
    longer.push_back(0);
    EXPECT_THROW(decode_store(as_record(longer)), StreamError);
}

TEST(StoreRecord, CraftedFieldsAreRefused) {
    const std::vector<uint8_t> good = encode_store(sample());
    auto with_u32 = [&](size_t at, uint32_t v) {
        std::vector<uint8_t> b = good;
        std::memcpy(b.data() + at, &v, 4);
        return b;
    };
    EXPECT_THROW(decode_store(as_record(with_u32(16, 1u << 20))), StreamError);    // nodes
    EXPECT_THROW(decode_store(as_record(with_u32(20, 5000))), StreamError);        // watches
    EXPECT_THROW(decode_store(as_record(with_u32(36, 1))), StreamError);           // reserved
    EXPECT_THROW(decode_store(as_record(with_u32(40, 0xffffffff))), StreamError);  // a length

    // A partial request that is a whole one, or names a payload past the limit.
    StoreRecord s = sample();
    xsd_sockmsg h{XS_READ, 1, 0, 2};
    s.state.session.partial_request.assign(reinterpret_cast<const char*>(&h), sizeof h);
    s.state.session.partial_request += "ab";
    EXPECT_THROW(decode_store(as_record(encode_store(s))), StreamError);
    h.len = XENSTORE_PAYLOAD_MAX + 1;
    s.state.session.partial_request.assign(reinterpret_cast<const char*>(&h), sizeof h);
    EXPECT_THROW(decode_store(as_record(encode_store(s))), StreamError);

    // Permissions that do not parse.
    s = sample();
    std::vector<uint8_t> b = encode_store(s);
    const std::string wire = s.state.nodes[1].perms.wire();  // "n4\0"
    auto it = std::search(b.begin(), b.end(), wire.begin(), wire.end());
    ASSERT_NE(it, b.end());
    *it = 'q';
    EXPECT_THROW(decode_store(as_record(b)), StreamError);
}

}  // namespace
}  // namespace xenolith::state
