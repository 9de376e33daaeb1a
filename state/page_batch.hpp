// RecordType::PageData: a batch of guest pages. Body:
//   u32 count                  pages in the batch, 1 to kMaxBatchPages
//   u32 frame_bytes            length of the zstd frame at the end (0 when every page is zero)
//   u64 entry[count]           page number, with kZeroPage set for a page of zeros
//   frame_bytes of zstd        one frame: the non-zero pages' bytes, in entry order
// All-zero pages cost 8 bytes and no compression (a fresh guest is mostly zeros); the rest
// go through Debian's libzstd at a fast level, since the stream is often a socket.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "state/stream_format.hpp"

namespace xenolith::state {

inline constexpr uint64_t kZeroPage = 1ull << 63;

struct PageRef {
    uint64_t pfn = 0;
    const uint8_t* data = nullptr;  // kPageSize bytes
};

struct EncodedBatch {
    std::span<const uint8_t> body;  // the PageData record's, in the encoder's buffer
    uint32_t zero_pages = 0;        // of the batch's pages, how many went as a flag
};

// One per stream: its zstd context and its buffers serve every batch, so that a save does not
// allocate (and fault in) megabytes again for each batch of 4 MiB.
class PageBatchEncoder {
  public:
    PageBatchEncoder();
    ~PageBatchEncoder();
    // A PageData body for 1 to kMaxBatchPages pages, valid until the next encode() or the
    // encoder's end. Throws Error on a zstd failure.
    EncodedBatch encode(std::span<const PageRef> pages);

  private:
    struct Context;
    std::unique_ptr<Context> ctx_;
};

class PageBatchDecoder {
  public:
    // Each page in order: its number and its bytes (kPageSize), or an empty span for zeros.
    using Sink = std::function<void(uint64_t pfn, std::span<const uint8_t> bytes)>;

    PageBatchDecoder();
    ~PageBatchDecoder();
    // Checks everything before calling `sink` once: the count, the entries (page numbers
    // below `pages`, no flag but kZeroPage), the frame's length and its decompressed size
    // (exactly the non-zero pages'). `offset` is the record's, for errors (StreamError).
    void decode(std::span<const uint8_t> body, uint64_t pages, uint64_t offset, const Sink& sink);

  private:
    struct Context;
    std::unique_ptr<Context> ctx_;
    std::vector<uint8_t> scratch_;
};

}  // namespace xenolith::state
