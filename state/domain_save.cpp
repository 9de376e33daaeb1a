#include "state/domain_save.hpp"

#include <chrono>
#include <map>
#include <optional>

#include "base/error.hpp"
#include "state/stream_writer.hpp"

namespace xenolith::state {

namespace {

constexpr auto kParkTimeout = std::chrono::milliseconds(5000);

DomainInfo info_of(hv::Domain& d) {
    if (d.is_pvh()) throw Error("domain " + d.name() + " is PVH: only PV domains can be saved yet");
    std::optional<uint64_t> shared = d.shared_info_gpa();
    if (!shared) throw Error("domain " + d.name() + " has no shared_info page in its RAM");
    return {d.nr_vcpus(), *shared, d.boot_cr3(), d.boot_tss()};
}

bool operator==(const DomainInfo& a, const DomainInfo& b) {
    return a.vcpus == b.vcpus && a.shared_info_gpa == b.shared_info_gpa &&
           a.boot_cr3 == b.boot_cr3 && a.boot_tss == b.boot_tss;
}

}  // namespace

DomainSaver::DomainSaver(hv::Domain& d, ByteSink& out, const std::string& config)
    : domain_(d),
      info_(info_of(d)),
      counted_(out),
      writer_(counted_),
      memory_(d.memory(), writer_) {
    if (!config.empty())
        writer_.record(RecordType::XlConfig,
                       std::span(reinterpret_cast<const uint8_t*>(config.data()), config.size()));
    writer_.domain_header({kGuestKindPv, 12, d.memory().nr_pages()});
    writer_.record(RecordType::DomainInfo, encode_domain_info(info_));
}

PageCounts DomainSaver::send_pages(std::span<const uint64_t> pfns) {
    PageCounts c = memory_.write(pfns);
    pages_ += c;
    return c;
}

PageCounts DomainSaver::send_all_pages() {
    PageCounts c = memory_.write_all();
    pages_ += c;
    return c;
}

void DomainSaver::stop() {
    hv::Domain& d = domain_;
    if (!d.paused()) throw Error("domain " + d.name() + " must be paused to be saved");
    // DOMAIN_INFO went first, while the domain may have run: a guest that moved its
    // shared_info since then cannot be described by it.
    if (!(info_of(d) == info_))
        throw Error("domain " + d.name() +
                    " moved its shared_info or boot frames while it was sent");
    // The vCPUs first: each parks to be read and stays parked, so that no guest write
    // follows the pages the caller sends next.
    Rest rest;
    for (uint32_t i = 0; i < d.nr_vcpus(); ++i)
        rest.vcpus.push_back(d.vcpu(i).save_state(kParkTimeout));
    rest.grant_frames = d.grant_table().frame_list(d.grant_table().nr_frames());
    rest.ports = d.evtchn().save_ports();
    rest_ = std::move(rest);
}

SaveCounts DomainSaver::finish(const ConsoleInfo& console,
                               const std::optional<StoreRecord>& store) {
    if (!rest_)
        throw Error("domain " + domain_.name() + " was not stopped before its stream ended");
    const Rest& r = *rest_;
    writer_.record(RecordType::GrantFrames, encode_grant_frames(r.grant_frames));
    writer_.record(RecordType::EventChannels, encode_event_channels(r.ports));
    writer_.record(RecordType::Console, encode_console(console));
    if (store) writer_.record(RecordType::Xenstore, encode_store(*store));
    for (uint32_t i = 0; i < r.vcpus.size(); ++i)
        writer_.record(RecordType::Vcpu, encode_vcpu(i, r.vcpus[i]));
    // Last: the clock the copy goes on from is the one at the end of the save.
    writer_.record(RecordType::GuestTime, encode_guest_time(domain_.guest_time_ns()));
    writer_.end();
    return {pages_, counted_.written};
}

SaveCounts save_domain(hv::Domain& d, const ConsoleInfo& console, ByteSink& out,
                       const ToolstackState& toolstack) {
    if (!d.paused()) throw Error("domain " + d.name() + " must be paused to be saved");
    DomainSaver saver(d, out, toolstack.config);
    saver.stop();
    saver.send_all_pages();
    return saver.finish(console, toolstack.store);
}

namespace {

// The records after DOMAIN_INFO, gathered: RAM goes in as it comes, the rest once all of
// it is there (grant entries and vCPU areas live in RAM).
struct Gathered {
    std::optional<std::vector<xen_pfn_t>> grant_frames;
    std::optional<std::vector<hv::SavedPort>> ports;
    std::optional<ConsoleInfo> console;
    std::optional<StoreRecord> store;
    std::optional<uint64_t> guest_time;
    std::map<uint32_t, hv::VcpuState> vcpus;
};

template <class T>
void once(std::optional<T>& slot, T value, const Record& r, const char* what) {
    if (slot) throw StreamError(r.offset, std::string("a second ") + what + " record");
    slot = std::move(value);
}

Gathered read_records(StreamReader& reader, hv::Domain& d, uint32_t vcpus, PageCounts& pages) {
    Gathered g;
    MemoryReader memory(d.memory());
    for (;;) {
        Record r = reader.next();
        switch (r.type) {
            case RecordType::End:
                return g;
            case RecordType::PageData:
                pages += memory.apply(r);
                break;
            case RecordType::GrantFrames:
                once(g.grant_frames, decode_grant_frames(r), r, "GRANT_FRAMES");
                break;
            case RecordType::EventChannels:
                once(g.ports, decode_event_channels(r), r, "EVENT_CHANNELS");
                break;
            case RecordType::Console:
                once(g.console, decode_console(r), r, "CONSOLE");
                break;
            case RecordType::Xenstore:
                once(g.store, decode_store(r), r, "XENSTORE");
                break;
            case RecordType::GuestTime:
                once(g.guest_time, decode_guest_time(r), r, "GUEST_TIME");
                break;
            case RecordType::Vcpu: {
                auto [id, state] = decode_vcpu(r);
                if (id >= vcpus || !g.vcpus.emplace(id, state).second)
                    throw StreamError(
                        r.offset, "vCPU " + std::to_string(id) + " is out of range or comes twice");
                break;
            }
            case RecordType::DomainHeader:
            case RecordType::DomainInfo:
                throw StreamError(r.offset, "a second domain header");
            case RecordType::XlConfig:
                throw StreamError(r.offset, "a config record after the domain header");
        }
    }
}

void check(long rc, const char* what) {
    if (rc != 0)
        throw Error(std::string("the stream's ") + what + " does not fit the domain (Xen errno " +
                    std::to_string(-rc) + ")");
}

void apply(hv::Domain& d, const DomainInfo& info, const Gathered& g) {
    if (!g.grant_frames || !g.ports || !g.console || g.vcpus.size() != d.nr_vcpus())
        throw Error(
            "the stream ends without the grant table, event channels, console or every vCPU");
    d.restore_shared_info(info.shared_info_gpa);
    // Before the vCPUs: their timer deadlines are in the domain's time. A stream without
    // the record keeps the host's clock (offset 0).
    if (g.guest_time) d.restore_guest_time(*g.guest_time);
    d.restore_boot_frames(info.boot_cr3, info.boot_tss);
    check(d.grant_table().restore_frames(*g.grant_frames), "grant table");
    for (const hv::SavedPort& p : *g.ports) check(d.evtchn().restore_port(p), "event channel");
    for (const auto& [id, state] : g.vcpus) check(d.vcpu(id).restore_state(state), "vCPU state");
}

}  // namespace

DomainRestore::DomainRestore(ByteSource& in) : reader_(in), header_(reader_.next()) {
    if (header_.type == RecordType::XlConfig) {
        config_.assign(header_.body.begin(), header_.body.end());
        header_ = reader_.next();
    }
    if (header_.type != RecordType::DomainHeader)
        throw StreamError(header_.offset, "expected the domain header, found record type " +
                                              std::to_string(static_cast<uint32_t>(header_.type)));
}

RestoredDomain restore_domain(hv::Hypervisor& hv, hv::DomainParams params, ByteSource& in) {
    return DomainRestore(in).restore(hv, params);
}

RestoredDomain DomainRestore::restore(hv::Hypervisor& hv, hv::DomainParams params) {
    StreamReader& reader = reader_;
    const uint64_t max_pages = hv.free_memory() / kPageSize;
    const DomainHeader header = StreamReader::domain_header(header_, max_pages);
    if (header.guest_kind != kGuestKindPv)
        throw Error("the stream holds a PVH domain: only PV domains can be restored yet");
    const DomainInfo info =
        decode_domain_info(reader.expect(RecordType::DomainInfo, "DOMAIN_INFO"));
    params.kind = hv::GuestKind::Pv;
    params.memory_bytes = header.pages * kPageSize;
    params.vcpus = info.vcpus;
    RestoredDomain out;
    out.domain = hv.create_domain(params);
    try {
        Gathered g = read_records(reader, *out.domain, info.vcpus, out.pages);
        apply(*out.domain, info, g);
        out.console = *g.console;
        out.store = std::move(g.store);
    } catch (...) {
        hv.destroy_domain(out.domain->id());
        throw;
    }
    return out;
}

}  // namespace xenolith::state
