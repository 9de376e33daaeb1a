// The wire protocol's framing under hostile input: oversized headers end only that
// connection, split and batched messages, unknown types, the NUL rules of each request,
// and replies that would be too big.
#include <gtest/gtest.h>

#include "tests/unit/backends/xenstored/xs_client.hpp"

namespace xenolith::xenstored::testing {
namespace {

using XenstoreFraming = XenstoredTest;

std::string header_only(uint32_t type, uint32_t len) {
    xsd_sockmsg h{type, 1, 0, len};
    return std::string(reinterpret_cast<const char*>(&h), sizeof(h));
}

TEST_F(XenstoreFraming, AnOversizedHeaderEndsThatConnectionOnly) {
    Client hostile(daemon_, 1, false);
    std::string bad = header_only(XS_READ, XENSTORE_PAYLOAD_MAX + 1);
    EXPECT_EQ(hostile.conn().feed(bad), bad.size());
    EXPECT_TRUE(hostile.conn().closed());
    EXPECT_NE(hostile.conn().close_reason().find("XENSTORE_PAYLOAD_MAX"), std::string::npos);
    EXPECT_EQ(hostile.conn().output_size(), 0u);
    EXPECT_EQ(hostile.conn().feed(encode_message(XS_READ, 2, 0, nul({"/"}))), 0u);
    // Everyone else carries on.
    EXPECT_EQ(dom1.write("/local/domain/1/still", "fine"), "OK");
    EXPECT_EQ(dom0.read("/local/domain/1/still"), "fine");
}

TEST_F(XenstoreFraming, HugeLengthsAreRefusedBeforeAnyPayloadIsBuffered) {
    Client hostile(daemon_, 1, false);
    std::string bad = header_only(XS_WRITE, 0xffffffffu) + std::string(100, 'x');
    EXPECT_EQ(hostile.conn().feed(bad), kHeaderSize);
    EXPECT_TRUE(hostile.conn().closed());
}

TEST_F(XenstoreFraming, AWatchedHostileConnectionLosesItsWatchesAndTransactions) {
    Client hostile(daemon_, 1, false);
    ASSERT_EQ(hostile.watch("/local/domain/1", "t"), "OK");
    ASSERT_NE(hostile.start(), 0u);
    hostile.events();
    hostile.conn().feed(header_only(XS_READ, XENSTORE_PAYLOAD_MAX + 1));
    ASSERT_EQ(dom0.write("/local/domain/1/x", "1"), "OK");
    EXPECT_EQ(hostile.conn().output_size(), 0u);
}

TEST_F(XenstoreFraming, MessagesMayArriveByteByByteOrManyAtOnce) {
    std::string batch = encode_message(XS_WRITE, 1, 0, std::string("/b/x\0v1", 7)) +
                        encode_message(XS_READ, 2, 0, nul({"/b/x"})) +
                        encode_message(XS_DIRECTORY, 3, 0, nul({"/b"}));
    for (char c : batch) ASSERT_EQ(dom0.conn().feed(std::string_view(&c, 1)), 1u);
    auto replies = parse_messages(dom0.conn().take_output());
    ASSERT_EQ(replies.size(), 3u);
    EXPECT_EQ(replies[0].req_id, 1u);
    EXPECT_EQ(replies[1].payload, "v1");
    EXPECT_EQ(replies[2].payload, nul({"x"}));

    EXPECT_EQ(dom0.conn().feed(batch), batch.size());
    EXPECT_EQ(parse_messages(dom0.conn().take_output()).size(), 3u);
}

TEST_F(XenstoreFraming, RepliesEchoTheRequestIdAndTransaction) {
    uint32_t tx = dom0.start();
    dom0.conn().feed(encode_message(XS_READ, 0xdeadbeef, tx, nul({"/"})));
    auto replies = parse_messages(dom0.conn().take_output());
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].type, static_cast<uint32_t>(XS_READ));
    EXPECT_EQ(replies[0].req_id, 0xdeadbeefu);
    EXPECT_EQ(replies[0].tx_id, tx);
}

TEST_F(XenstoreFraming, UnknownTypesAreENOSYS) {
    for (uint32_t type : {uint32_t{XS_WATCH_EVENT}, uint32_t{XS_ERROR}, uint32_t{XS_SET_TARGET + 1},
                          uint32_t{XS_TYPE_COUNT}, uint32_t{XS_INVALID}, 0xffffffffu}) {
        EXPECT_EQ(dom1.call(type, nul({"/"})), "ENOSYS") << type;
    }
}

TEST_F(XenstoreFraming, NulRulesPerRequest) {
    // One-argument requests need exactly one NUL, at the end.
    for (uint32_t type : {XS_READ, XS_MKDIR, XS_RM, XS_DIRECTORY, XS_GET_PERMS}) {
        EXPECT_EQ(dom0.call(type, "/"), "EINVAL") << type_name(type);
        EXPECT_EQ(dom0.call(type, ""), "EINVAL") << type_name(type);
        EXPECT_EQ(dom0.call(type, std::string("/\0/\0", 4)), "EINVAL") << type_name(type);
    }
    // WRITE needs the path's NUL; the value after it is binary.
    EXPECT_EQ(dom0.call(XS_WRITE, "/novalue"), "EINVAL");
    EXPECT_EQ(dom0.call(XS_WRITE, std::string("/n\0", 3)), std::string("OK", 3));
    EXPECT_EQ(dom0.read("/n"), "");
    EXPECT_EQ(dom0.call(XS_GET_DOMAIN_PATH, "1"), "EINVAL");
    EXPECT_EQ(dom0.call(XS_SET_PERMS, nul({"/n"})), "EINVAL");
}

TEST_F(XenstoreFraming, ARequestMayNotBeAnsweredWithMoreThanAPayload) {
    std::string value(XENSTORE_PAYLOAD_MAX, 'v');  // dom0 is not bound by the value quota
    std::string payload = "/big";
    payload += '\0';
    payload += value.substr(0, XENSTORE_PAYLOAD_MAX - payload.size());
    EXPECT_EQ(dom0.call(XS_WRITE, payload), std::string("OK", 3));
    EXPECT_EQ(dom0.read("/big").size(), XENSTORE_PAYLOAD_MAX - 5u);
}

TEST_F(XenstoreFraming, OutputCanBeTakenInPieces) {
    dom0.conn().feed(encode_message(XS_READ, 7, 0, nul({"/tool"})));
    std::string all;
    uint8_t byte;
    while (dom0.conn().copy_output(std::span(&byte, 1)) == 1) {
        all += static_cast<char>(byte);
        dom0.conn().consume_output(1);
    }
    auto replies = parse_messages(all);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].req_id, 7u);
}

}  // namespace
}  // namespace xenolith::xenstored::testing
