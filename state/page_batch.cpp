#include "state/page_batch.hpp"

#include <zstd.h>

#include <cstring>
#include <memory>
#include <string>

#include "base/error.hpp"
#include "state/byte_stream.hpp"

namespace xenolith::state {

namespace {

// Fast, and still some 3x on typical kernel and heap pages.
constexpr int kZstdLevel = 1;
constexpr size_t kBatchHeaderBytes = 8;

// The largest batch's non-zero pages, and its body: header, entries, and room for a frame of
// ZSTD_compressBound, which no input of that size can outgrow (random pages grow a little).
constexpr size_t kMaxRawBytes = size_t{kMaxBatchPages} * kPageSize;
constexpr size_t kMaxBodyBytes =
    kBatchHeaderBytes + kMaxBatchPages * 8 + ZSTD_COMPRESSBOUND(kMaxRawBytes);
static_assert(kMaxBodyBytes <= kMaxRecordBytes, "a full batch must fit in a record");

bool all_zero(const uint8_t* page) {
    static const uint8_t kZeros[kPageSize] = {};
    return std::memcmp(page, kZeros, kPageSize) == 0;
}

template <class T>
T get_le(const uint8_t* at) {
    T value;
    std::memcpy(&value, at, sizeof value);
    return value;
}

}  // namespace

struct PageBatchEncoder::Context {
    struct FreeCCtx {
        void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
    };
    std::unique_ptr<ZSTD_CCtx, FreeCCtx> cctx{ZSTD_createCCtx()};
    // Both allocated once and never cleared: each batch writes what it then uses. glibc
    // gives chunks this large back to the kernel when freed, so a buffer per batch was
    // faulted in afresh every time: nearly a third of a save's time.
    std::unique_ptr<uint8_t[]> raw = std::make_unique_for_overwrite<uint8_t[]>(kMaxRawBytes);
    std::unique_ptr<uint8_t[]> body = std::make_unique_for_overwrite<uint8_t[]>(kMaxBodyBytes);

    struct Gathered {
        size_t raw_bytes = 0;
        uint32_t zero_pages = 0;
    };
    // Writes the entries into `body` and the non-zero pages back to back into `raw`: one
    // input for ZSTD_compress2, which compresses it without a copy of its own.
    Gathered gather(std::span<const PageRef> pages);
    // Compresses `raw_bytes` of `raw` into `body` at `at`; returns the frame's length.
    uint32_t compress(size_t raw_bytes, size_t at);
};

PageBatchEncoder::Context::Gathered PageBatchEncoder::Context::gather(
    std::span<const PageRef> pages) {
    Gathered g;
    for (size_t i = 0; i < pages.size(); ++i) {
        const bool zero = all_zero(pages[i].data);
        const uint64_t entry = pages[i].pfn | (zero ? kZeroPage : 0);
        std::memcpy(body.get() + kBatchHeaderBytes + i * 8, &entry, sizeof entry);
        if (zero) {
            ++g.zero_pages;
        } else {
            std::memcpy(raw.get() + g.raw_bytes, pages[i].data, kPageSize);
            g.raw_bytes += kPageSize;
        }
    }
    return g;
}

uint32_t PageBatchEncoder::Context::compress(size_t raw_bytes, size_t at) {
    const size_t n =
        ZSTD_compress2(cctx.get(), body.get() + at, kMaxBodyBytes - at, raw.get(), raw_bytes);
    if (ZSTD_isError(n)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(n));
    return static_cast<uint32_t>(n);
}

PageBatchEncoder::PageBatchEncoder() : ctx_(std::make_unique<Context>()) {
    if (!ctx_->cctx) throw Error("zstd: cannot make a compression context");
    ZSTD_CCtx_setParameter(ctx_->cctx.get(), ZSTD_c_compressionLevel, kZstdLevel);
}

PageBatchEncoder::~PageBatchEncoder() = default;

EncodedBatch PageBatchEncoder::encode(std::span<const PageRef> pages) {
    if (pages.empty() || pages.size() > kMaxBatchPages)
        throw Error("a page batch of " + std::to_string(pages.size()) + " pages");
    const Context::Gathered g = ctx_->gather(pages);
    const size_t frame_at = kBatchHeaderBytes + pages.size() * 8;
    const uint32_t frame_bytes = g.raw_bytes ? ctx_->compress(g.raw_bytes, frame_at) : 0;
    const uint32_t count = static_cast<uint32_t>(pages.size());
    std::memcpy(ctx_->body.get(), &count, sizeof count);
    std::memcpy(ctx_->body.get() + 4, &frame_bytes, sizeof frame_bytes);
    return {{ctx_->body.get(), frame_at + frame_bytes}, g.zero_pages};
}

struct PageBatchDecoder::Context {
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    ~Context() { ZSTD_freeDCtx(dctx); }
};

PageBatchDecoder::PageBatchDecoder() : ctx_(std::make_unique<Context>()) {
    if (!ctx_->dctx) throw Error("zstd: cannot make a decompression context");
}

PageBatchDecoder::~PageBatchDecoder() = default;

void PageBatchDecoder::decode(std::span<const uint8_t> body, uint64_t pages, uint64_t offset,
                              const Sink& sink) {
    auto fail = [offset](const std::string& why) {
        throw StreamError(offset, "page batch: " + why);
    };
    if (body.size() < kBatchHeaderBytes) fail("shorter than its header");
    const uint32_t count = get_le<uint32_t>(body.data());
    const uint32_t frame_bytes = get_le<uint32_t>(body.data() + 4);
    if (count == 0 || count > kMaxBatchPages)
        fail(std::to_string(count) + " pages (1 to " + std::to_string(kMaxBatchPages) + ")");
    const uint64_t entries_end = kBatchHeaderBytes + uint64_t{count} * 8;
    if (body.size() != entries_end + frame_bytes)
        fail("its length does not match its count and frame length");
    size_t nonzero = 0;
    for (uint32_t i = 0; i < count; ++i) {
        const uint64_t e = get_le<uint64_t>(body.data() + kBatchHeaderBytes + i * 8ull);
        const uint64_t pfn = e & ~kZeroPage;
        if (pfn >= pages)
            fail("page " + std::to_string(pfn) + " is beyond the domain's " +
                 std::to_string(pages) + " pages");
        if (!(e & kZeroPage)) ++nonzero;
    }
    const uint64_t expected = uint64_t{nonzero} * kPageSize;
    if ((nonzero == 0) != (frame_bytes == 0)) fail("its frame does not match its zero pages");
    if (nonzero) {
        const uint8_t* frame = body.data() + entries_end;
        const unsigned long long size = ZSTD_getFrameContentSize(frame, frame_bytes);
        if (size != expected) fail("its frame does not hold exactly the non-zero pages");
        // Grown, never shrunk: resize zero-fills what it adds, which a shrink would have the
        // next larger batch pay again. zstd still gets exactly `expected` bytes of room.
        if (scratch_.size() < expected) scratch_.resize(expected);
        const size_t n =
            ZSTD_decompressDCtx(ctx_->dctx, scratch_.data(), expected, frame, frame_bytes);
        if (ZSTD_isError(n) || n != expected)
            fail(std::string("zstd: ") + (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
    }
    size_t next = 0;
    for (uint32_t i = 0; i < count; ++i) {
        const uint64_t e = get_le<uint64_t>(body.data() + kBatchHeaderBytes + i * 8ull);
        if (e & kZeroPage) {
            sink(e & ~kZeroPage, {});
        } else {
            sink(e, {scratch_.data() + next * kPageSize, kPageSize});
            ++next;
        }
    }
}

}  // namespace xenolith::state
