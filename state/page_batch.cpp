#include "state/page_batch.hpp"

#include <zstd.h>

#include <cstring>
#include <string>

#include "base/error.hpp"
#include "state/byte_stream.hpp"

namespace xenolith::state {

namespace {

// Fast, and still some 3x on typical kernel and heap pages.
constexpr int kZstdLevel = 1;
constexpr size_t kBatchHeaderBytes = 8;

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
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ~Context() { ZSTD_freeCCtx(cctx); }
};

PageBatchEncoder::PageBatchEncoder() : ctx_(std::make_unique<Context>()) {
    if (!ctx_->cctx) throw Error("zstd: cannot make a compression context");
    ZSTD_CCtx_setParameter(ctx_->cctx, ZSTD_c_compressionLevel, kZstdLevel);
}

PageBatchEncoder::~PageBatchEncoder() = default;

EncodedBatch PageBatchEncoder::encode(std::span<const PageRef> pages) {
    if (pages.empty() || pages.size() > kMaxBatchPages)
        throw Error("a page batch of " + std::to_string(pages.size()) + " pages");
    std::vector<uint8_t> raw;  // the non-zero pages, back to back
    EncodedBatch out;
    std::vector<uint8_t>& body = out.body;
    body.resize(kBatchHeaderBytes + pages.size() * 8);
    for (size_t i = 0; i < pages.size(); ++i) {
        const bool zero = all_zero(pages[i].data);
        const uint64_t entry = pages[i].pfn | (zero ? kZeroPage : 0);
        std::memcpy(body.data() + kBatchHeaderBytes + i * 8, &entry, sizeof entry);
        if (zero)
            ++out.zero_pages;
        else
            raw.insert(raw.end(), pages[i].data, pages[i].data + kPageSize);
    }
    uint32_t frame_bytes = 0;
    if (!raw.empty()) {
        const size_t at = body.size();
        body.resize(at + ZSTD_compressBound(raw.size()));
        const size_t n =
            ZSTD_compress2(ctx_->cctx, body.data() + at, body.size() - at, raw.data(), raw.size());
        if (ZSTD_isError(n)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(n));
        body.resize(at + n);
        frame_bytes = static_cast<uint32_t>(n);
    }
    const uint32_t count = static_cast<uint32_t>(pages.size());
    std::memcpy(body.data(), &count, sizeof count);
    std::memcpy(body.data() + 4, &frame_bytes, sizeof frame_bytes);
    return out;
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
        scratch_.resize(expected);
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
