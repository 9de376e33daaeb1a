#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>

#include "state/page_batch.hpp"
#include "state/stream_reader.hpp"
#include "state/stream_writer.hpp"

namespace xenolith::state {
namespace {

std::vector<uint8_t> page_of(uint8_t fill) {
    return std::vector<uint8_t>(kPageSize, fill);
}

std::vector<uint8_t> random_page(uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> p(kPageSize);
    for (auto& b : p) b = static_cast<uint8_t>(rng());
    return p;
}

// A stream with a header, one page batch and END.
std::vector<uint8_t> sample_stream() {
    MemorySink sink;
    StreamWriter w(sink);
    w.domain_header({kGuestKindPv, 12, 64});
    const auto zero = page_of(0), text = page_of('x'), noise = random_page(7);
    const PageRef pages[] = {{3, text.data()}, {4, zero.data()}, {63, noise.data()}};
    PageBatchEncoder enc;
    w.record(RecordType::PageData, enc.encode(pages).body);
    w.end();
    return sink.bytes();
}

TEST(DomainStream, RoundTripsHeaderPagesAndEnd) {
    const std::vector<uint8_t> bytes = sample_stream();
    EXPECT_EQ(bytes.size() % 8, 0u);
    MemorySource src(bytes);
    StreamReader r(src);
    const DomainHeader h = StreamReader::domain_header(r.expect(RecordType::DomainHeader, "h"), 64);
    EXPECT_EQ(h.guest_kind, kGuestKindPv);
    EXPECT_EQ(h.pages, 64u);
    const Record batch = r.expect(RecordType::PageData, "pages");
    std::map<uint64_t, std::vector<uint8_t>> got;
    PageBatchDecoder dec;
    dec.decode(batch.body, h.pages, batch.offset, [&](uint64_t pfn, std::span<const uint8_t> b) {
        got[pfn] = b.empty() ? std::vector<uint8_t>{} : std::vector<uint8_t>(b.begin(), b.end());
    });
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[3], page_of('x'));
    EXPECT_TRUE(got[4].empty()) << "a zero page travels as a flag";
    EXPECT_EQ(got[63], random_page(7));
    EXPECT_EQ(r.next().type, RecordType::End);
    EXPECT_THROW(r.next(), StreamError);
}

TEST(DomainStream, ZeroPagesCostNoFrame) {
    const auto zero = page_of(0);
    std::vector<PageRef> pages;
    for (uint64_t i = 0; i < kMaxBatchPages; ++i) pages.push_back({i, zero.data()});
    PageBatchEncoder enc;
    const EncodedBatch b = enc.encode(pages);
    EXPECT_EQ(b.body.size(), 8 + kMaxBatchPages * 8);
    EXPECT_EQ(b.zero_pages, kMaxBatchPages);
}

// The encoder and decoder keep their buffers from batch to batch: a small batch after a full
// one must come out as a fresh encoder makes it, with nothing of the batch before.
TEST(DomainStream, BuffersKeptAcrossBatchesLeakNothing) {
    std::vector<std::vector<uint8_t>> noise;
    std::vector<PageRef> full;
    for (uint32_t i = 0; i < kMaxBatchPages; ++i) {
        noise.push_back(random_page(i));
        full.push_back({i, noise.back().data()});
    }
    const auto zero = page_of(0), text = page_of('s');
    const PageRef small[] = {{9, text.data()}, {10, zero.data()}};
    PageBatchEncoder reused, fresh;
    PageBatchDecoder dec;
    int pages = 0;
    dec.decode(reused.encode(full).body, kMaxBatchPages, 0,
               [&](uint64_t, std::span<const uint8_t>) { ++pages; });
    const std::span<const uint8_t> again = reused.encode(small).body;
    const std::vector<uint8_t> body(again.begin(), again.end());
    const std::span<const uint8_t> first = fresh.encode(small).body;
    EXPECT_TRUE(std::equal(body.begin(), body.end(), first.begin(), first.end()));
    std::map<uint64_t, std::vector<uint8_t>> got;
    dec.decode(body, kMaxBatchPages, 0, [&](uint64_t pfn, std::span<const uint8_t> b) {
        got[pfn] = std::vector<uint8_t>(b.begin(), b.end());
    });
    EXPECT_EQ(pages, static_cast<int>(kMaxBatchPages));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[9], text);
    EXPECT_TRUE(got[10].empty());
}

TEST(DomainStream, EveryTruncationIsRefusedWithItsOffset) {
    const std::vector<uint8_t> bytes = sample_stream();
    for (size_t n = 0; n < bytes.size(); ++n) {
        MemorySource src({bytes.data(), n});
        try {
            StreamReader r(src);
            for (;;) {
                Record rec = r.next();
                if (rec.type == RecordType::End) break;
            }
            ADD_FAILURE() << "a stream cut at " << n << " bytes was read whole";
        } catch (const StreamError& e) {
            EXPECT_LE(e.offset(), n);
            EXPECT_NE(std::string(e.what()).find("ends inside"), std::string::npos) << e.what();
        }
    }
}

TEST(DomainStream, RefusesWhatItDoesNotKnow) {
    std::vector<uint8_t> bytes = sample_stream();
    auto read_all = [](std::vector<uint8_t> b) {
        MemorySource src(b);
        StreamReader r(src);
        while (r.next().type != RecordType::End) {
        }
    };
    auto expect_error = [&](std::vector<uint8_t> b, const char* words) {
        try {
            read_all(std::move(b));
            ADD_FAILURE() << "accepted; expected: " << words;
        } catch (const StreamError& e) {
            EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
        }
    };
    auto edit = [&](size_t at, uint32_t value) {
        std::vector<uint8_t> b = bytes;
        std::memcpy(b.data() + at, &value, sizeof value);
        return b;
    };
    expect_error(edit(8, 0x4e454858), "not a Xenolith domain stream");
    expect_error(edit(16, 2), "stream version 2");
    expect_error(edit(20, 1), "big-endian");
    expect_error(edit(24, 77), "record type 77 is not one this version knows");
    expect_error(edit(28, kMaxRecordBytes + 1), "the limit is");
    // An optional record this version does not know is skipped.
    std::vector<uint8_t> with_optional(bytes.begin(), bytes.begin() + 24);
    const uint32_t opt[] = {kRecordOptional | 99, 3};
    const uint8_t* p = reinterpret_cast<const uint8_t*>(opt);
    with_optional.insert(with_optional.end(), p, p + sizeof opt);
    with_optional.insert(with_optional.end(), {1, 2, 3, 0, 0, 0, 0, 0});
    with_optional.insert(with_optional.end(), bytes.begin() + 24, bytes.end());
    EXPECT_NO_THROW(read_all(with_optional));
    with_optional[24 + 8 + 5] = 1;  // padding that is not zero
    expect_error(with_optional, "padding is not zero");
}

TEST(DomainStream, DomainHeaderIsChecked) {
    auto header = [](uint32_t kind, uint32_t shift, uint64_t pages) {
        MemorySink sink;
        StreamWriter w(sink);
        w.domain_header({kind, shift, pages});
        MemorySource src(sink.bytes());
        StreamReader r(src);
        return StreamReader::domain_header(r.next(), 1024);
    };
    EXPECT_EQ(header(kGuestKindPvh, 12, 1024).guest_kind, kGuestKindPvh);
    EXPECT_THROW(header(9, 12, 16), StreamError);
    EXPECT_THROW(header(kGuestKindPv, 21, 16), StreamError);
    EXPECT_THROW(header(kGuestKindPv, 12, 0), StreamError);
    EXPECT_THROW(header(kGuestKindPv, 12, 1025), StreamError);
}

TEST(DomainStream, PageBatchesAreCheckedBeforeAnyPageIsGiven) {
    const auto text = page_of('t');
    const PageRef one[] = {{5, text.data()}};
    PageBatchEncoder enc;
    const std::span<const uint8_t> encoded = enc.encode(one).body;
    const std::vector<uint8_t> good(encoded.begin(), encoded.end());
    PageBatchDecoder dec;
    int calls = 0;
    auto sink = [&](uint64_t, std::span<const uint8_t>) { ++calls; };
    EXPECT_THROW(dec.decode(good, 5, 0, sink), StreamError);  // page 5 of a 5-page domain
    std::vector<uint8_t> bad = good;
    bad[0] = 2;  // a count the body does not hold
    EXPECT_THROW(dec.decode(bad, 64, 0, sink), StreamError);
    bad = good;
    bad[8 + 7] |= 0x40;  // an unknown flag makes the page number huge
    EXPECT_THROW(dec.decode(bad, 64, 0, sink), StreamError);
    bad = good;
    bad.back() ^= 0xff;  // a damaged frame
    EXPECT_THROW(dec.decode(bad, 64, 0, sink), StreamError);
    EXPECT_EQ(calls, 0);
    dec.decode(good, 64, 0, sink);
    EXPECT_EQ(calls, 1);
    EXPECT_THROW(enc.encode({}), Error);
}

}  // namespace
}  // namespace xenolith::state
