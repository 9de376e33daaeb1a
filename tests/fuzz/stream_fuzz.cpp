// The domain stream reader (state/) on arbitrary bytes: every record, every page batch
// decoded into a small domain, and every record of a domain's hypervisor state decoded. It may
// refuse (StreamError); it must never crash, read out of bounds, or allocate more than the record
// limit.
#include <cstddef>
#include <cstdint>

#include "state/domain_records.hpp"
#include "state/page_batch.hpp"
#include "state/store_record.hpp"
#include "state/stream_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace xenolith::state;
    constexpr uint64_t kPages = 4096;
    try {
        MemorySource src({data, size});
        StreamReader reader(src);
        PageBatchDecoder decoder;
        uint64_t sum = 0;
        for (;;) {
            Record r = reader.next();
            if (r.type == RecordType::End) break;
            if (r.type == RecordType::DomainHeader) StreamReader::domain_header(r, kPages);
            if (r.type == RecordType::PageData)
                decoder.decode(r.body, kPages, r.offset,
                               [&](uint64_t pfn, std::span<const uint8_t> bytes) {
                                   sum += pfn + (bytes.empty() ? 0 : bytes[kPageSize - 1]);
                               });
            if (r.type == RecordType::DomainInfo) sum += decode_domain_info(r).vcpus;
            if (r.type == RecordType::Vcpu) sum += decode_vcpu(r).first;
            if (r.type == RecordType::EventChannels) sum += decode_event_channels(r).size();
            if (r.type == RecordType::GrantFrames) sum += decode_grant_frames(r).size();
            if (r.type == RecordType::Console) sum += decode_console(r).port;
            if (r.type == RecordType::Xenstore) sum += decode_store(r).state.nodes.size();
            if (r.type == RecordType::XlConfig) sum += r.body.size();
            if (r.type == RecordType::GuestTime) sum += decode_guest_time(r);
        }
        return static_cast<int>(sum & 0);
    } catch (const xenolith::Error&) {
        return 0;
    }
}
