#include "boot/kernel_payload.hpp"

#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/error.hpp"

namespace xenolith::boot {

namespace {

struct Magic {
    Compression compression;
    std::span<const uint8_t> bytes;
};

// The magics Linux's own decompressors recognise (lib/decompress.c), with the full
// signature of each format where it is longer than Linux's two-byte check.
constexpr uint8_t kGzipMagic[] = {0x1f, 0x8b};
constexpr uint8_t kXzMagic[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
constexpr uint8_t kZstdMagic[] = {0x28, 0xb5, 0x2f, 0xfd};
constexpr uint8_t kBzip2Magic[] = {'B', 'Z', 'h'};
constexpr uint8_t kLzmaMagic[] = {0x5d, 0x00, 0x00};
constexpr uint8_t kLz4Magic[] = {0x02, 0x21, 0x4c, 0x18};  // the legacy frame Linux uses
constexpr uint8_t kLzoMagic[] = {0x89, 'L', 'Z', 'O'};

constexpr Magic kMagics[] = {
    {Compression::kGzip, kGzipMagic}, {Compression::kXz, kXzMagic},
    {Compression::kZstd, kZstdMagic}, {Compression::kBzip2, kBzip2Magic},
    {Compression::kLzma, kLzmaMagic}, {Compression::kLz4, kLz4Magic},
    {Compression::kLzo, kLzoMagic},
};

std::string size_text(uint64_t bytes) {
    if (bytes != 0 && bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

// The decompressed kernel, grown as the decoder fills it. Its capacity stops one byte past
// the limit, so filling it proves the stream would exceed the limit without ever holding
// more than limit + 1 bytes.
class Output {
  public:
    Output(const std::string& name, const char* format, uint64_t limit, uint64_t hint)
        : name_(name), format_(format), limit_(limit) {
        bytes_.resize(std::min(cap(), std::max<uint64_t>(hint, 1 << 20)));
    }

    // Room for the decoder's next step; grows the buffer when it is full.
    uint8_t* next() {
        if (used_ == bytes_.size()) {
            if (bytes_.size() >= cap()) too_large();
            bytes_.resize(std::min(cap(), uint64_t{bytes_.size()} * 2));
        }
        return bytes_.data() + used_;
    }
    size_t room() const { return bytes_.size() - used_; }
    void produced(size_t n) { used_ += n; }

    std::vector<uint8_t> finish() {
        if (used_ > limit_) too_large();
        bytes_.resize(used_);
        return std::move(bytes_);
    }

    [[noreturn]] void truncated() const {
        throw Error(name_ + ": the " + format_ +
                    " payload ends before its compressed stream does (is the file truncated?)");
    }
    [[noreturn]] void corrupt(const std::string& why) const {
        throw Error(name_ + ": the " + format_ + " payload is corrupt (" + why + ")");
    }

  private:
    uint64_t cap() const { return limit_ + 1; }
    [[noreturn]] void too_large() const {
        throw Error(name_ + ": the " + format_ + " payload decompresses to more than " +
                    size_text(limit_) + ", the limit for a kernel");
    }

    const std::string& name_;
    const char* format_;
    uint64_t limit_;
    std::vector<uint8_t> bytes_;
    size_t used_ = 0;
};

// zlib and liblzma count in uInt/size_t; feed them at most this much per call.
constexpr size_t kStep = UINT_MAX;

std::vector<uint8_t> inflate_gzip(std::span<const uint8_t> in, Output out) {
    z_stream zs{};
    // 16 + MAX_WBITS: gzip framing only, so a raw zlib stream is not mistaken for gzip.
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) out.corrupt("zlib could not start");
    const std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
    size_t pos = 0;
    for (;;) {
        uint8_t* dst = out.next();
        zs.next_in = const_cast<Bytef*>(in.data() + pos);  // zlib's API is not const-correct
        zs.avail_in = static_cast<uInt>(std::min(in.size() - pos, kStep));
        zs.next_out = dst;
        zs.avail_out = static_cast<uInt>(std::min(out.room(), kStep));
        const uInt in_before = zs.avail_in;
        const uInt out_before = zs.avail_out;
        const int rc = inflate(&zs, Z_NO_FLUSH);
        pos += in_before - zs.avail_in;
        out.produced(out_before - zs.avail_out);
        if (rc == Z_STREAM_END) return out.finish();
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            out.corrupt(zs.msg ? zs.msg : "zlib error " + std::to_string(rc));
        if (zs.avail_out == 0) continue;  // out of room: next() grows the buffer
        // Room left over means zlib wanted more input than there is.
        if (pos == in.size()) out.truncated();
        if (zs.avail_in == in_before && zs.avail_out == out_before) out.corrupt("no progress");
    }
}

std::string lzma_message(lzma_ret rc) {
    switch (rc) {
        case LZMA_FORMAT_ERROR:
            return "not an xz stream";
        case LZMA_OPTIONS_ERROR:
            return "unsupported xz options";
        case LZMA_DATA_ERROR:
            return "corrupt xz data";
        case LZMA_MEMLIMIT_ERROR:
            return "its dictionary needs more memory than allowed";
        case LZMA_MEM_ERROR:
            return "out of memory";
        default:
            return "liblzma error " + std::to_string(rc);
    }
}

std::vector<uint8_t> inflate_xz(std::span<const uint8_t> in, Output out) {
    // Linux builds with a 32 MiB dictionary; twice that is generous and still bounded.
    constexpr uint64_t kMemLimit = uint64_t{64} << 20;
    lzma_stream strm = LZMA_STREAM_INIT;
    // No LZMA_CONCATENATED: decoding stops at the end of the first stream, leaving Linux's
    // trailing size word unread.
    const lzma_ret init = lzma_stream_decoder(&strm, kMemLimit, 0);
    if (init != LZMA_OK) out.corrupt(lzma_message(init));
    const std::unique_ptr<lzma_stream, void (*)(lzma_stream*)> guard(&strm, lzma_end);
    size_t pos = 0;
    for (;;) {
        uint8_t* dst = out.next();
        strm.next_in = in.data() + pos;
        strm.avail_in = in.size() - pos;
        strm.next_out = dst;
        strm.avail_out = out.room();
        const size_t out_before = strm.avail_out;
        const lzma_ret rc = lzma_code(&strm, LZMA_FINISH);
        pos = in.size() - strm.avail_in;
        out.produced(out_before - strm.avail_out);
        if (rc == LZMA_STREAM_END) return out.finish();
        if (rc == LZMA_BUF_ERROR) {
            if (pos == in.size()) out.truncated();
            continue;
        }
        if (rc != LZMA_OK) out.corrupt(lzma_message(rc));
        if (pos == in.size() && strm.avail_out != 0) out.truncated();
    }
}

std::vector<uint8_t> inflate_zstd(std::span<const uint8_t> in, Output out) {
    const std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    if (!dctx) out.corrupt("out of memory");
    // The default window limit (128 MiB, ZSTD_WINDOWLOG_LIMIT_DEFAULT) covers `zstd -22
    // --ultra`, which Linux uses, and bounds the decoder's memory.
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    for (;;) {
        uint8_t* dst = out.next();
        ZSTD_outBuffer sink{dst, out.room(), 0};
        const size_t rc = ZSTD_decompressStream(dctx.get(), &sink, &src);
        out.produced(sink.pos);
        if (ZSTD_isError(rc)) out.corrupt(ZSTD_getErrorName(rc));
        if (rc == 0) return out.finish();  // one frame, complete; Linux's size word follows
        if (src.pos == src.size && sink.pos < sink.size) out.truncated();
    }
}

}  // namespace

Compression detect_compression(std::span<const uint8_t> payload) {
    for (const Magic& m : kMagics) {
        if (payload.size() >= m.bytes.size() &&
            std::equal(m.bytes.begin(), m.bytes.end(), payload.begin()))
            return m.compression;
    }
    return Compression::kUnknown;
}

const char* compression_name(Compression compression) {
    switch (compression) {
        case Compression::kGzip:
            return "gzip";
        case Compression::kXz:
            return "xz";
        case Compression::kZstd:
            return "zstd";
        case Compression::kBzip2:
            return "bzip2";
        case Compression::kLzma:
            return "lzma";
        case Compression::kLz4:
            return "lz4";
        case Compression::kLzo:
            return "lzo";
        case Compression::kUnknown:
            break;
    }
    return "unknown";
}

std::vector<uint8_t> decompress_kernel_payload(std::span<const uint8_t> payload,
                                               const std::string& name, uint64_t limit) {
    const Compression compression = detect_compression(payload);
    const char* format = compression_name(compression);
    // Kernels compress 3-5x; start near the final size to avoid most regrowth.
    const uint64_t hint = uint64_t{payload.size()} * 4;
    switch (compression) {
        case Compression::kGzip:
            return inflate_gzip(payload, Output(name, format, limit, hint));
        case Compression::kXz:
            return inflate_xz(payload, Output(name, format, limit, hint));
        case Compression::kZstd:
            return inflate_zstd(payload, Output(name, format, limit, hint));
        case Compression::kUnknown: {
            char first[32] = "";
            if (payload.size() >= 2)
                std::snprintf(first, sizeof first, " (it starts 0x%02x 0x%02x)", payload[0],
                              payload[1]);
            throw Error(name + ": the payload's compression is not recognised" + first +
                        "; only gzip, xz and zstd are supported");
        }
        default:
            throw Error(name + ": payload is " + format +
                        "-compressed; only gzip, xz and zstd are supported");
    }
}

}  // namespace xenolith::boot
