// A PV domain's whole state into a domain stream, and a domain made again from one
// (docs/domain-stream.md): RAM, vCPUs, event channels, grant table, shared_info and the
// console's ring and port, with what the toolstack keeps beside them (its config, the
// domain's store state). Backends are the caller's: a restored domain's console, store and
// devices are connected by the toolstack before it starts.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "hv/hypervisor.hpp"
#include "state/byte_stream.hpp"
#include "state/domain_records.hpp"
#include "state/memory_stream.hpp"
#include "state/store_record.hpp"
#include "state/stream_reader.hpp"

namespace xenolith::state {

struct SaveCounts {
    PageCounts pages;
    uint64_t bytes = 0;  // the whole stream
};

// What the toolstack keeps beside the hypervisor's state.
struct ToolstackState {
    // XL_CONFIG, JSON text, the stream's first record: a restore knows what to build (and
    // whether it may) before it reads a page. Empty: none.
    std::string config;
    std::optional<StoreRecord> store;  // XENSTORE, after RAM
};

// `domain` must be paused (its vCPUs park to be read) and stays so. Throws Error, naming
// what cannot be saved (a PVH domain, a channel to another guest), before writing past the
// header; a failing sink's error passes through.
SaveCounts save_domain(hv::Domain& domain, const ConsoleInfo& console, ByteSink& out,
                       const ToolstackState& toolstack = {});

struct RestoredDomain {
    std::shared_ptr<hv::Domain> domain;  // Building: the caller connects backends, then starts it
    ConsoleInfo console;
    std::optional<StoreRecord> store;
    PageCounts pages;
};

// A stream being restored. Made from its source, it has read the image header and the
// config when the stream carries one; restore() reads the rest into a new domain.
class DomainRestore {
  public:
    // Throws StreamError for a bad header or config record.
    explicit DomainRestore(ByteSource& in);
    const std::string& config() const { return config_; }
    // Reads the rest into a new domain made with `params` (its memory and vCPU count come
    // from the stream). Throws StreamError (or Error) on any fault in the stream or what it
    // asks for, having destroyed the new domain: nothing is left behind.
    RestoredDomain restore(hv::Hypervisor& hv, hv::DomainParams params);

  private:
    StreamReader reader_;
    std::string config_;
    Record header_;  // the record after the config, which must be the domain header
};

// DomainRestore(in).restore(hv, params), for a stream whose config is not needed.
RestoredDomain restore_domain(hv::Hypervisor& hv, hv::DomainParams params, ByteSource& in);

}  // namespace xenolith::state
