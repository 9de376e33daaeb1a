// The XENSTORE record (docs/domain-stream.md): a guest's part of the store, its nodes and
// its ring connection's session (xenstored::DomainStoreState), with the ring's page and
// port for the restored domain's store link. Decoding is hostile-input parsing: lengths
// against the body, counts against xenstored's own limits, permissions parsed; what the
// nodes' paths may be is checked where they are applied (Xenstored::restore_nodes).
#pragma once

#include <cstdint>
#include <vector>

#include "backends/xenstored/domain_state.hpp"
#include "state/stream_reader.hpp"

namespace xenolith::state {

struct StoreRecord {
    uint64_t ring_gpa = 0;
    uint32_t port = 0;
    xenstored::DomainStoreState state;
    bool operator==(const StoreRecord&) const = default;
};

std::vector<uint8_t> encode_store(const StoreRecord& store);
StoreRecord decode_store(const Record& r);

}  // namespace xenolith::state
