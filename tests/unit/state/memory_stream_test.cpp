#include "state/memory_stream.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace xenolith::state {
namespace {

constexpr uint64_t kRam = 8ull << 20;  // 2048 pages: two full batches

void scribble(hv::GuestMemory& m, uint64_t pfn, uint8_t seed) {
    uint8_t* p = m.span(pfn * kPageSize, kPageSize).data();
    for (size_t i = 0; i < kPageSize; i += 64) p[i] = static_cast<uint8_t>(seed + i / 64);
}

bool same_page(const hv::GuestMemory& a, const hv::GuestMemory& b, uint64_t pfn) {
    return std::memcmp(a.span(pfn * kPageSize, kPageSize).data(),
                       b.span(pfn * kPageSize, kPageSize).data(), kPageSize) == 0;
}

TEST(MemoryStream, AllOfRamRoundTripsWithZeroPagesAsFlags) {
    hv::GuestMemory src("src", kRam), dst("dst", kRam);
    for (uint64_t pfn : {0ull, 1ull, 1023ull, 1024ull, 2047ull}) scribble(src, pfn, 7);
    MemorySink sink;
    StreamWriter w(sink);
    const PageCounts sent = MemoryWriter(src, w).write_all();
    w.end();
    EXPECT_EQ(sent.pages, 2048u);
    EXPECT_EQ(sent.zero_pages, 2043u);
    EXPECT_LT(sent.bytes, 64u * 1024) << "five written pages and the rest as flags";

    MemorySource in(sink.bytes());
    StreamReader r(in);
    MemoryReader reader(dst);
    PageCounts applied;
    for (Record rec = r.next(); rec.type != RecordType::End; rec = r.next())
        applied += reader.apply(rec);
    EXPECT_EQ(applied.pages, 2048u);
    for (uint64_t pfn = 0; pfn < 2048; ++pfn) ASSERT_TRUE(same_page(src, dst, pfn)) << pfn;
}

TEST(MemoryStream, ALaterRoundWinsAndZeroesAPageThatWasWritten) {
    hv::GuestMemory src("src", kRam), dst("dst", kRam);
    scribble(src, 5, 1);
    scribble(src, 6, 2);
    MemorySink sink;
    StreamWriter w(sink);
    MemoryWriter writer(src, w);
    writer.write_all();
    // The guest changes page 5 and clears page 6 before the next round.
    scribble(src, 5, 9);
    std::memset(src.span(6 * kPageSize, kPageSize).data(), 0, kPageSize);
    const uint64_t dirty[] = {5, 6};
    EXPECT_EQ(writer.write(dirty).pages, 2u);
    w.end();
    MemorySource in(sink.bytes());
    StreamReader r(in);
    MemoryReader reader(dst);
    for (Record rec = r.next(); rec.type != RecordType::End; rec = r.next()) reader.apply(rec);
    EXPECT_TRUE(same_page(src, dst, 5));
    EXPECT_TRUE(same_page(src, dst, 6));
}

TEST(MemoryStream, PagesBeyondTheDomainAreRefusedBeforeAnyIsWritten) {
    hv::GuestMemory big("big", kRam), small("small", kRam / 2);
    scribble(big, 3, 1);
    scribble(big, 1500, 2);
    MemorySink sink;
    StreamWriter w(sink);
    const uint64_t pfns[] = {3, 1500};
    MemoryWriter(big, w).write(pfns);
    MemorySource in(sink.bytes());
    StreamReader r(in);
    MemoryReader reader(small);
    EXPECT_THROW(reader.apply(r.next()), StreamError);
    const uint8_t* p = small.span(3 * kPageSize, kPageSize).data();
    EXPECT_EQ(p[0], 0) << "page 3 came in the same batch as the bad page";
    const uint64_t outside[] = {4096};
    EXPECT_THROW(MemoryWriter(small, w).write(outside), Error);
}

}  // namespace
}  // namespace xenolith::state
