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
#include "state/stream_writer.hpp"

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

// Counts what passes through to the real sink.
class CountingSink final : public ByteSink {
  public:
    explicit CountingSink(ByteSink& out) : out_(out) {}
    void write(std::span<const uint8_t> bytes) override {
        out_.write(bytes);
        written += bytes.size();
    }
    uint64_t written = 0;

  private:
    ByteSink& out_;
};

// A PV domain's stream written in phases, for live migration: the head and RAM while the
// domain runs, pages again as they are dirtied, and, once it is paused, the last pages and
// everything else. Pages sent more than once: the last copy wins on restore.
class DomainSaver {
  public:
    // Writes the head: the config record (when not empty), the domain header and
    // DOMAIN_INFO. Throws Error, naming why, for a domain that cannot be saved (PVH, no
    // shared_info in RAM) before writing anything.
    DomainSaver(hv::Domain& domain, ByteSink& out, const std::string& config);
    DomainSaver(const DomainSaver&) = delete;
    DomainSaver& operator=(const DomainSaver&) = delete;

    PageCounts send_pages(std::span<const uint64_t> pfns);
    PageCounts send_all_pages();
    // The domain paused: parks every vCPU and reads the hypervisor's state, so that the
    // pages sent after it are the last the guest wrote. Throws Error when the domain runs,
    // moved what DOMAIN_INFO described meanwhile, or a vCPU does not park.
    void stop();
    // After stop(): grant table, event channels, console, store, vCPUs, time, END.
    SaveCounts finish(const ConsoleInfo& console, const std::optional<StoreRecord>& store);
    uint64_t bytes() const { return counted_.written; }
    // See MemoryWriter::on_batch.
    void on_batch(std::function<void(uint64_t pages)> f) { memory_.on_batch(std::move(f)); }

  private:
    hv::Domain& domain_;
    const DomainInfo info_;
    CountingSink counted_;
    StreamWriter writer_;
    MemoryWriter memory_;
    PageCounts pages_;
    struct Rest {
        std::vector<hv::VcpuState> vcpus;
        std::vector<xen_pfn_t> grant_frames;
        std::vector<hv::SavedPort> ports;
    };
    std::optional<Rest> rest_;
};

// `domain` must be paused (its vCPUs park to be read, before any page) and stays so. Throws Error,
// naming what cannot be saved (a PVH domain, a channel to another guest), before writing past the
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
