#include "bench/ram_mix.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <string_view>

#include "base/error.hpp"

namespace xenolith::bench {

namespace {

constexpr size_t kPage = 4096;

// xorshift64*: fast enough that generating the mix costs far less than saving it.
class Rng {
  public:
    explicit Rng(uint64_t seed) : x_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
    uint64_t next() {
        x_ ^= x_ >> 12;
        x_ ^= x_ << 25;
        x_ ^= x_ >> 27;
        return x_ * 0x2545f4914f6cdd1dull;
    }
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }

  private:
    uint64_t x_;
};

void random_page(uint8_t* page, Rng& rng) {
    for (size_t i = 0; i < kPage; i += 8) {
        const uint64_t v = rng.next();
        std::memcpy(page + i, &v, sizeof v);
    }
}

// Log lines of an imaginary web service: a fixed shape and vocabulary with numbers that
// vary, which is what makes real text pages compress a few times rather than a hundred.
class LogText {
  public:
    explicit LogText(Rng& rng) : rng_(rng) {}
    void page(uint8_t* out) {
        size_t at = 0;
        while (at < kPage) {
            const std::string_view l = line();
            const size_t n = std::min(l.size(), kPage - at);
            std::memcpy(out + at, l.data(), n);
            at += n;
        }
    }

  private:
    static constexpr std::array<std::string_view, 4> kLevels = {"INFO  ", "DEBUG ", "WARN  ",
                                                                "ERROR "};
    static constexpr std::array<std::string_view, 4> kMethods = {"GET ", "PUT ", "POST ",
                                                                 "DELETE "};
    static constexpr std::array<std::string_view, 8> kPaths = {
        "/api/v1/items/",  "/api/v1/users/",    "/api/v1/orders/", "/static/img/",
        "/api/v2/search/", "/api/v1/sessions/", "/healthz/",       "/metrics/"};
    static constexpr std::array<std::string_view, 5> kStatus = {"200 ", "200 ", "201 ", "404 ",
                                                                "500 "};

    std::string_view line() {
        ms_ += rng_.below(40);
        len_ = 0;
        put("2026-12-07T14:");
        num((ms_ / 60000) % 60, 2);
        put(":");
        num((ms_ / 1000) % 60, 2);
        put(".");
        num(ms_ % 1000, 3);
        put("Z ");
        put(kLevels[rng_.below(kLevels.size())]);
        put("worker-");
        num(rng_.below(16), 1);
        put(" ");
        put(kMethods[rng_.below(kMethods.size())]);
        put(kPaths[rng_.below(kPaths.size())]);
        num(rng_.below(100000), 1);
        put(" ");
        put(kStatus[rng_.below(kStatus.size())]);
        num(rng_.below(65536), 1);
        put(" B ");
        num(rng_.below(250), 1);
        put(" ms\n");
        return {buf_.data(), len_};
    }
    void put(std::string_view s) {
        std::memcpy(buf_.data() + len_, s.data(), s.size());
        len_ += s.size();
    }
    // `v` in decimal, zero-padded to `width` digits.
    void num(uint64_t v, size_t width) {
        char digits[24];
        const auto r = std::to_chars(digits, digits + sizeof digits, v);
        const size_t n = static_cast<size_t>(r.ptr - digits);
        for (size_t i = n; i < width; ++i) buf_[len_++] = '0';
        put({digits, n});
    }

    Rng& rng_;
    uint64_t ms_ = 0;
    std::array<char, 160> buf_{};  // one line; the longest is about 100 bytes
    size_t len_ = 0;
};

}  // namespace

RamMix fill_ram_mix(std::span<uint8_t> region, uint64_t seed) {
    if (region.size() % kPage != 0) throw Error("fill_ram_mix: not a whole number of pages");
    Rng rng(seed);
    LogText text(rng);
    RamMix mix;
    for (size_t i = 0; i < region.size() / kPage; ++i) {
        uint8_t* page = region.data() + i * kPage;
        switch (i % 4) {
            case 0:
                // Written, not left as they were: every page is then resident, so that
                // neither side of a figure pays for faulting RAM in.
                std::memset(page, 0, kPage);
                ++mix.zero_pages;
                break;
            case 1:
                random_page(page, rng);
                ++mix.random_pages;
                break;
            default:
                text.page(page);
                ++mix.text_pages;
                break;
        }
    }
    return mix;
}

std::string ram_mix_description() {
    return "page i of the filled region by i % 4: 0 zeros (1/4), 1 pseudo-random bytes "
           "(xorshift64*, incompressible; 1/4), 2 and 3 text (1/2): log lines of a web "
           "service, '2026-12-07T14:03:27.118Z INFO  worker-3 GET /api/v1/items/48213 200 "
           "1834 B 12 ms', from a small vocabulary with pseudo-random numbers. The guest's own "
           "pages (its image, page tables and boot pages below first_free, and the top of RAM "
           "where its allocator hands out pages) are left as the guest made them";
}

}  // namespace xenolith::bench
