// A PV domain's whole state into a domain stream, and a domain made again from one
// (docs/domain-stream.md): RAM, vCPUs, event channels, grant table, shared_info and the
// console's ring and port. Backends are the caller's: a restored domain's console (and,
// later, store and devices) are connected by the toolstack before it starts.
#pragma once

#include <memory>

#include "hv/hypervisor.hpp"
#include "state/byte_stream.hpp"
#include "state/domain_records.hpp"
#include "state/memory_stream.hpp"

namespace xenolith::state {

struct SaveCounts {
    PageCounts pages;
    uint64_t bytes = 0;  // the whole stream
};

// `domain` must be paused (its vCPUs park to be read) and stays so. Throws Error, naming
// what cannot be saved (a PVH domain, a channel to another guest), before writing past the
// header; a failing sink's error passes through.
SaveCounts save_domain(hv::Domain& domain, const ConsoleInfo& console, ByteSink& out);

struct RestoredDomain {
    std::shared_ptr<hv::Domain> domain;  // Building: the caller connects backends, then starts it
    ConsoleInfo console;
    PageCounts pages;
};

// Reads a whole stream into a new domain made with `params` (its memory and vCPU count
// come from the stream). Throws StreamError (or Error) on any fault in the stream or what
// it asks for, having destroyed the new domain: nothing is left behind.
RestoredDomain restore_domain(hv::Hypervisor& hv, hv::DomainParams params, ByteSource& in);

}  // namespace xenolith::state
