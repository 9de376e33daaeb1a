#include "state/memory_stream.hpp"

#include <cstring>
#include <vector>

#include "base/error.hpp"

namespace xenolith::state {

PageCounts MemoryWriter::write(std::span<const uint64_t> pfns) {
    PageCounts total;
    std::vector<PageRef> batch;
    batch.reserve(kMaxBatchPages);
    for (uint64_t pfn : pfns) {
        std::span<uint8_t> page = memory_.span(pfn * kPageSize, kPageSize);
        if (page.empty())
            throw Error("page " + std::to_string(pfn) + " is not in the domain's RAM");
        batch.push_back({pfn, page.data()});
        if (batch.size() == kMaxBatchPages) {
            total += flush(batch);
            batch.clear();
        }
    }
    if (!batch.empty()) total += flush(batch);
    return total;
}

PageCounts MemoryWriter::write_all() {
    std::vector<uint64_t> all(memory_.nr_pages());
    for (uint64_t i = 0; i < all.size(); ++i) all[i] = i;
    return write(all);
}

PageCounts MemoryWriter::flush(std::span<const PageRef> batch) {
    const EncodedBatch encoded = encoder_.encode(batch);
    const uint64_t before = out_.bytes_written();
    out_.record(RecordType::PageData, encoded.body);
    if (on_batch_) on_batch_(batch.size());
    return {batch.size(), encoded.zero_pages, out_.bytes_written() - before};
}

PageCounts MemoryReader::apply(const Record& record) {
    PageCounts c;
    c.bytes = record.body.size();
    decoder_.decode(record.body, memory_.nr_pages(), record.offset,
                    [&](uint64_t pfn, std::span<const uint8_t> bytes) {
                        std::span<uint8_t> page = memory_.span(pfn * kPageSize, kPageSize);
                        if (bytes.empty()) {
                            std::memset(page.data(), 0, kPageSize);
                            ++c.zero_pages;
                        } else {
                            std::memcpy(page.data(), bytes.data(), kPageSize);
                        }
                        ++c.pages;
                    });
    return c;
}

}  // namespace xenolith::state
