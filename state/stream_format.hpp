// The domain stream: a domain's whole state as one byte stream, for `xn save`/`restore`,
// `xn migrate` and `xn live-update` (docs/domain-stream.md). Modelled on Xen's libxc
// migration stream v2: an image header, then typed, length-prefixed records, each padded
// to 8 bytes, ending with an END record. All fields are little-endian.
//
// This file holds the layout's constants; stream_writer.hpp and stream_reader.hpp make and
// check it. A reader treats every byte as hostile: a file may be corrupt, truncated, from
// a future version, or crafted.
#pragma once

#include <cstdint>

namespace xenolith::state {

// Image header: marker, identifier, version, options (24 bytes).
inline constexpr uint64_t kStreamMarker = 0xffffffffffffffff;
inline constexpr char kStreamId[8] = {'X', 'E', 'N', 'O', 'L', 'I', 'T', 'H'};
inline constexpr uint32_t kStreamVersion = 1;
inline constexpr uint32_t kOptionBigEndian = 1u << 0;  // never set: x86 hosts only
inline constexpr uint64_t kImageHeaderBytes = 24;

// Record header: type, then the body's length without padding (8 bytes).
inline constexpr uint64_t kRecordHeaderBytes = 8;
inline constexpr uint64_t kRecordAlign = 8;
// The largest record body accepted: a page batch of kMaxBatchPages uncompressible pages and
// its frame list fit with room; nothing else comes near.
inline constexpr uint32_t kMaxRecordBytes = 16u << 20;

// A reader that meets a type it does not know skips the record if this bit is set in its
// type (an addition older readers may ignore), and refuses the stream otherwise.
inline constexpr uint32_t kRecordOptional = 1u << 31;

enum class RecordType : uint32_t {
    End = 0,            // empty; the last record
    DomainHeader = 1,   // what the stream describes (DomainHeader below)
    PageData = 2,       // a batch of guest pages (page_batch.hpp)
    DomainInfo = 3,     // vCPU count and the builder's pages (domain_records.hpp)
    Vcpu = 4,           // one vCPU's state
    EventChannels = 5,  // every open port
    GrantFrames = 6,    // the grant table's frames
    Console = 7,        // the PV console's ring page and port
    XlConfig = 8,       // the toolstack's config, JSON text; first when present
    Xenstore = 9,       // the domain's store nodes and its ring connection (store_record.hpp)
    GuestTime = 10,     // the domain's system time when it was saved (domain_records.hpp)
};

// RecordType::DomainHeader's body (16 bytes). A reader refuses a guest kind or page size
// it does not know before anything is built.
inline constexpr uint32_t kGuestKindPv = 1;
inline constexpr uint32_t kGuestKindPvh = 2;
struct DomainHeader {
    uint32_t guest_kind = 0;
    uint32_t page_shift = 12;
    uint64_t pages = 0;  // guest RAM in pages: every page number in the stream is below it
};
inline constexpr uint64_t kDomainHeaderBytes = 16;

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint32_t kMaxBatchPages = 1024;

}  // namespace xenolith::state
