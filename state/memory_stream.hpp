// Guest RAM in a domain stream: pages out as PAGE_DATA records (page_batch.hpp), and
// PAGE_DATA records back into RAM. Save writes every page once; live migration writes the
// dirty ones again in later rounds, so a page may come more than once and the last wins.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "hv/guest_memory.hpp"
#include "state/page_batch.hpp"
#include "state/stream_reader.hpp"
#include "state/stream_writer.hpp"

namespace xenolith::state {

struct PageCounts {
    uint64_t pages = 0;       // sent or applied
    uint64_t zero_pages = 0;  // of those, all zeros (sent as a flag)
    uint64_t bytes = 0;       // stream bytes their records took
    PageCounts& operator+=(const PageCounts& o) {
        pages += o.pages, zero_pages += o.zero_pages, bytes += o.bytes;
        return *this;
    }
};

class MemoryWriter {
  public:
    MemoryWriter(const hv::GuestMemory& memory, StreamWriter& out) : memory_(memory), out_(out) {}
    // The pages numbered in `pfns` (each below the RAM's page count), in batches.
    PageCounts write(std::span<const uint64_t> pfns);
    // Every page of RAM, in order.
    PageCounts write_all();
    // Heard after each batch is written, with its page count (a progress display).
    void on_batch(std::function<void(uint64_t pages)> f) { on_batch_ = std::move(f); }

  private:
    PageCounts flush(std::span<const PageRef> batch);

    const hv::GuestMemory& memory_;
    StreamWriter& out_;
    PageBatchEncoder encoder_;
    std::function<void(uint64_t)> on_batch_;
};

class MemoryReader {
  public:
    explicit MemoryReader(hv::GuestMemory& memory) : memory_(memory) {}
    // Applies a PAGE_DATA record: every page is checked before RAM changes (StreamError).
    PageCounts apply(const Record& record);

  private:
    hv::GuestMemory& memory_;
    PageBatchDecoder decoder_;
};

}  // namespace xenolith::state
