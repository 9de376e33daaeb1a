// Pumice's console ring arithmetic (guest/pumice/include/pumice/xencons_ring.hpp), run on the
// host: the same header the guest uses, against a plain xencons_interface.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "guest/pumice/include/pumice/xencons_ring.hpp"

namespace {

namespace xc = pumice::xencons;

struct Ring {
    Ring() { std::memset(&intf, 0, sizeof intf); }
    // Starts every index at `base`, to exercise 32-bit wrap-around.
    explicit Ring(XENCONS_RING_IDX base) : Ring() {
        intf.in_cons = intf.in_prod = intf.out_cons = intf.out_prod = base;
    }
    // The backend's side of `out`: takes everything written.
    std::string backend_drain() {
        std::string s;
        for (; intf.out_cons != intf.out_prod; ++intf.out_cons)
            s.push_back(intf.out[MASK_XENCONS_IDX(intf.out_cons, intf.out)]);
        return s;
    }
    // The backend's side of `in`: adds what fits, returns how much did.
    size_t backend_push(const std::string& s) {
        size_t n = 0;
        while (n < s.size() && intf.in_prod - intf.in_cons < sizeof intf.in)
            intf.in[MASK_XENCONS_IDX(intf.in_prod++, intf.in)] = s[n++];
        return n;
    }
    xencons_interface intf;
};

std::string pattern(size_t n, size_t seed = 0) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i + seed) % 26);
    return s;
}

TEST(XenconsRing, SizesComeFromTheXenHeader) {
    EXPECT_EQ(xc::kOutSize, 2048u);
    EXPECT_EQ(xc::kInSize, 1024u);
}

TEST(XenconsRing, WritePublishesBytesAndProducerIndex) {
    Ring r;
    EXPECT_EQ(xc::out_space(r.intf), xc::kOutSize);
    EXPECT_TRUE(xc::out_drained(r.intf));
    EXPECT_EQ(xc::out_write(r.intf, "hello\n", 6), 6u);
    EXPECT_EQ(r.intf.out_prod, 6u);
    EXPECT_EQ(xc::out_space(r.intf), xc::kOutSize - 6);
    EXPECT_FALSE(xc::out_drained(r.intf));
    EXPECT_EQ(r.backend_drain(), "hello\n");
    EXPECT_TRUE(xc::out_drained(r.intf));
    EXPECT_EQ(xc::out_space(r.intf), xc::kOutSize);
}

TEST(XenconsRing, FullRingTakesOnlyWhatFits) {
    Ring r;
    std::string big = pattern(xc::kOutSize + 100);
    EXPECT_EQ(xc::out_write(r.intf, big.data(), big.size()), xc::kOutSize);
    EXPECT_EQ(xc::out_space(r.intf), 0u);
    EXPECT_EQ(xc::out_write(r.intf, "x", 1), 0u);
    EXPECT_FALSE(xc::out_corrupt(r.intf));
    EXPECT_EQ(r.backend_drain(), big.substr(0, xc::kOutSize));
    EXPECT_EQ(xc::out_write(r.intf, big.data() + xc::kOutSize, 100), 100u);
    EXPECT_EQ(r.backend_drain(), big.substr(xc::kOutSize));
}

TEST(XenconsRing, OutputWrapsAroundTheRingAndTheIndices) {
    for (XENCONS_RING_IDX base : {0u, 2000u, 0xffffff00u, 0xfffffffeu}) {
        Ring r(base);
        std::string sent, got;
        for (size_t round = 0; round < 50; ++round) {
            std::string line = pattern(37 + round * 7 % 250, round);
            ASSERT_EQ(xc::out_write(r.intf, line.data(), line.size()), line.size());
            sent += line;
            if (round % 3 == 2) got += r.backend_drain();  // leave the ring part-full at times
        }
        got += r.backend_drain();
        EXPECT_EQ(got, sent) << "base " << base;
        EXPECT_EQ(r.intf.out_prod, static_cast<XENCONS_RING_IDX>(base + sent.size()));
    }
}

TEST(XenconsRing, CorruptConsumerIndexStopsOutput) {
    Ring r(0xfffffff0u);
    r.intf.out_cons = r.intf.out_prod + 1;  // consumer ahead of the producer
    EXPECT_TRUE(xc::out_corrupt(r.intf));
    EXPECT_EQ(xc::out_space(r.intf), 0u);
    EXPECT_TRUE(xc::out_drained(r.intf));  // nothing will ever be consumed: do not wait
    XENCONS_RING_IDX prod = r.intf.out_prod;
    EXPECT_EQ(xc::out_write(r.intf, "x", 1), 0u);
    EXPECT_EQ(r.intf.out_prod, prod);
    r.intf.out_cons = r.intf.out_prod - static_cast<XENCONS_RING_IDX>(xc::kOutSize) - 1;
    EXPECT_TRUE(xc::out_corrupt(r.intf));
}

TEST(XenconsRing, ReadConsumesWhatIsThere) {
    Ring r;
    char buf[64];
    EXPECT_EQ(xc::in_available(r.intf), 0u);
    EXPECT_EQ(xc::in_read(r.intf, buf, sizeof buf), 0u);
    r.backend_push("abcdef");
    EXPECT_EQ(xc::in_available(r.intf), 6u);
    EXPECT_EQ(xc::in_read(r.intf, buf, 4), 4u);
    EXPECT_EQ(std::string(buf, 4), "abcd");
    EXPECT_EQ(r.intf.in_cons, 4u);
    EXPECT_EQ(xc::in_read(r.intf, buf, sizeof buf), 2u);
    EXPECT_EQ(std::string(buf, 2), "ef");
    EXPECT_EQ(xc::in_available(r.intf), 0u);
}

TEST(XenconsRing, InputWrapsAroundTheRingAndTheIndices) {
    for (XENCONS_RING_IDX base : {0u, 1000u, 0xfffffc00u, 0xffffffffu}) {
        Ring r(base);
        std::string sent, got;
        char buf[300];
        for (size_t round = 0; round < 40; ++round) {
            std::string chunk = pattern(round * 13 % 290 + 1, round);
            sent += chunk.substr(0, r.backend_push(chunk));
            size_t n = xc::in_read(r.intf, buf, round % 2 ? sizeof buf : 100);
            got.append(buf, n);
        }
        for (size_t n; (n = xc::in_read(r.intf, buf, sizeof buf));) got.append(buf, n);
        EXPECT_EQ(got, sent) << "base " << base;
    }
}

TEST(XenconsRing, CorruptInputIsDroppedAndReadingResumes) {
    Ring r(0xfffffff8u);
    r.intf.in_prod = r.intf.in_cons + static_cast<XENCONS_RING_IDX>(xc::kInSize) + 1;
    EXPECT_TRUE(xc::in_corrupt(r.intf));
    EXPECT_EQ(xc::in_available(r.intf), 0u);
    EXPECT_EQ(xc::in_line_length(r.intf, 100), 0u);
    char buf[16];
    EXPECT_EQ(xc::in_read(r.intf, buf, sizeof buf), 0u);
    EXPECT_EQ(r.intf.in_cons, r.intf.in_prod);  // resynchronised
    r.backend_push("ok\n");
    EXPECT_EQ(xc::in_read(r.intf, buf, sizeof buf), 3u);
    EXPECT_EQ(std::string(buf, 3), "ok\n");
}

TEST(XenconsRing, LineLengthFindsTheFirstNewline) {
    Ring r(0xfffffffcu);  // the line straddles the index wrap
    EXPECT_EQ(xc::in_line_length(r.intf, 100), 0u);
    r.backend_push("hel");
    EXPECT_EQ(xc::in_line_length(r.intf, 100), 0u);  // incomplete: wait
    r.backend_push("lo\nquit\n");
    EXPECT_EQ(xc::in_line_length(r.intf, 100), 6u);
    EXPECT_EQ(r.intf.in_cons, 0xfffffffcu);  // nothing consumed
    char buf[16];
    ASSERT_EQ(xc::in_read(r.intf, buf, 6), 6u);
    EXPECT_EQ(std::string(buf, 6), "hello\n");
    EXPECT_EQ(xc::in_line_length(r.intf, 100), 5u);
    EXPECT_EQ(xc::in_line_length(r.intf, 0), 0u);
}

TEST(XenconsRing, LongLinesComeInPieces) {
    Ring r;
    r.backend_push("0123456789");
    EXPECT_EQ(xc::in_line_length(r.intf, 4), 4u);   // max reached, no newline yet
    EXPECT_EQ(xc::in_line_length(r.intf, 20), 0u);  // room for more: wait
    r.backend_push("\n");
    EXPECT_EQ(xc::in_line_length(r.intf, 20), 11u);
    EXPECT_EQ(xc::in_line_length(r.intf, 11), 11u);
    EXPECT_EQ(xc::in_line_length(r.intf, 10), 10u);

    Ring full;
    std::string s = pattern(xc::kInSize);
    ASSERT_EQ(full.backend_push(s), xc::kInSize);
    // A full ring without a newline cannot grow: hand out what is there.
    EXPECT_EQ(xc::in_line_length(full.intf, 4096), xc::kInSize);
}

// A producer and a backend on two host threads, indices wrapping: every byte arrives in
// order (exercises the acquire/release pairing under real concurrency).
TEST(XenconsRing, ConcurrentProducerAndConsumer) {
    auto r = std::make_unique<Ring>(0xffff0000u);
    constexpr size_t kTotal = 1 << 18;
    std::string sent = pattern(kTotal, 3);
    std::string got;
    got.reserve(kTotal);
    std::thread backend([&] {
        while (got.size() < kTotal) {
            XENCONS_RING_IDX cons = r->intf.out_cons;
            XENCONS_RING_IDX prod = std::atomic_ref(r->intf.out_prod).load(std::memory_order_acquire);
            for (; cons != prod; ++cons) got.push_back(r->intf.out[MASK_XENCONS_IDX(cons, r->intf.out)]);
            std::atomic_ref(r->intf.out_cons).store(cons, std::memory_order_release);
        }
    });
    for (size_t done = 0; done < kTotal;) {
        size_t n = xc::out_write(r->intf, sent.data() + done, std::min<size_t>(kTotal - done, 300));
        ASSERT_FALSE(xc::out_corrupt(r->intf));
        done += n;
    }
    backend.join();
    EXPECT_EQ(got, sent);
}

}  // namespace
