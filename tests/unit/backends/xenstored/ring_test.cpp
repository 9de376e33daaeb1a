// The ring pump over a struct xenstore_domain_interface page, with this test as the guest:
// requests and replies across the wrap, flow control when the response ring is full, and
// hostile indices.
#include <gtest/gtest.h>

#include <vector>

#include "backends/xenstored/ring.hpp"
#include "tests/unit/backends/xenstored/xs_client.hpp"

namespace xenolith::xenstored::testing {
namespace {

class XenstoreRing : public XenstoredTest {
  protected:
    XenstoreRing() : page_(4096 / sizeof(uint64_t)), guest_(daemon_, 1, false) {}

    xenstore_domain_interface* intf() {
        return reinterpret_cast<xenstore_domain_interface*>(page_.data());
    }
    std::span<uint8_t> page() { return {reinterpret_cast<uint8_t*>(page_.data()), 4096}; }

    // The guest's side: queue bytes on req[], take bytes from rsp[].
    size_t guest_send(std::string_view bytes) {
        size_t n = 0;
        while (n < bytes.size() && intf()->req_prod - intf()->req_cons < XENSTORE_RING_SIZE) {
            intf()->req[MASK_XENSTORE_IDX(intf()->req_prod)] = bytes[n++];
            intf()->req_prod++;
        }
        return n;
    }
    std::string guest_receive() {
        std::string out;
        while (intf()->rsp_cons != intf()->rsp_prod) {
            out += intf()->rsp[MASK_XENSTORE_IDX(intf()->rsp_cons)];
            intf()->rsp_cons++;
        }
        return out;
    }

    std::vector<uint64_t> page_;  // 8-byte aligned, as a page is
    Connection guest_;
};

TEST_F(XenstoreRing, RequestsInRepliesOut) {
    ASSERT_EQ(dom0.write("/local/domain/1/name", "guest"), "OK");
    std::string req = encode_message(XS_READ, 5, 0, nul({"name"}));
    ASSERT_EQ(guest_send(req), req.size());
    RingPumpResult r = pump_ring(page(), guest_);
    EXPECT_TRUE(r.notify);
    EXPECT_FALSE(r.broken);
    EXPECT_EQ(intf()->req_cons, intf()->req_prod);
    auto replies = parse_messages(guest_receive());
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].req_id, 5u);
    EXPECT_EQ(replies[0].payload, "guest");
    EXPECT_FALSE(pump_ring(page(), guest_).notify);  // nothing left to move
}

TEST_F(XenstoreRing, IndicesWrapAndBigRepliesWaitForRoom) {
    // Start near the 32-bit wrap so the indices overflow mid-test.
    for (auto* idx : {&intf()->req_cons, &intf()->req_prod, &intf()->rsp_cons, &intf()->rsp_prod}) {
        *idx = 0xfffffff0u;
    }
    std::string value(3000, 'v');
    ASSERT_EQ(dom0.write("/local/domain/1/big", value), "OK");
    std::string all;
    for (int i = 0; i < 3; ++i) {
        std::string req = encode_message(XS_READ, 10 + i, 0, nul({"big"}));
        ASSERT_EQ(guest_send(req), req.size());
        // Each reply is three times the ring: pump, drain, pump until it is through.
        for (int round = 0; round < 10; ++round) {
            pump_ring(page(), guest_);
            all += guest_receive();
        }
    }
    auto replies = parse_messages(all);
    ASSERT_EQ(replies.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(replies[i].req_id, 10u + i);
        EXPECT_EQ(replies[i].payload, value);
    }
}

TEST_F(XenstoreRing, AProducerAheadOfTheRingBreaksIt) {
    intf()->req_prod = intf()->req_cons + XENSTORE_RING_SIZE + 1;
    RingPumpResult r = pump_ring(page(), guest_);
    EXPECT_TRUE(r.broken);
    EXPECT_EQ(intf()->error, uint32_t{XENSTORE_ERROR_RINGIDX});
    intf()->req_prod = intf()->req_cons;
    intf()->error = 0;
    intf()->rsp_cons = intf()->rsp_prod + 5;  // the guest claims to have read the future
    EXPECT_TRUE(pump_ring(page(), guest_).broken);
}

TEST_F(XenstoreRing, AnOversizedHeaderIsAProtocolError) {
    xsd_sockmsg h{XS_READ, 1, 0, XENSTORE_PAYLOAD_MAX + 1};
    guest_send(std::string_view(reinterpret_cast<const char*>(&h), sizeof(h)));
    RingPumpResult r = pump_ring(page(), guest_);
    EXPECT_TRUE(r.broken);
    EXPECT_EQ(intf()->error, uint32_t{XENSTORE_ERROR_PROTO});
}

TEST_F(XenstoreRing, ATooSmallPageIsRefused) {
    std::vector<uint64_t> small(4);
    EXPECT_TRUE(pump_ring({reinterpret_cast<uint8_t*>(small.data()), 32}, guest_).broken);
}

}  // namespace
}  // namespace xenolith::xenstored::testing
