#include "state/store_record.hpp"

#include <cstring>

#include "backends/xenstored/wire.hpp"
#include "state/le_bytes.hpp"

namespace xenolith::state {

namespace {

// More than any store a domain may hold under xenstored's quotas (1000 nodes, 128 watches,
// 10 transactions, 64 queued events plus replies): anything beyond is crafted.
constexpr uint32_t kMaxNodes = 1u << 16;
constexpr uint32_t kMaxWatches = 1024;
constexpr uint32_t kMaxOutputs = 4096;
constexpr uint32_t kMaxTransactions = 1024;

std::string perms_wire(const xenstored::Permissions& p) {
    return p.wire();
}

xenstored::Permissions perms_from_wire(const std::string& wire, const BodyReader& in) {
    std::vector<std::string_view> strings;
    std::string_view rest(wire);
    while (!rest.empty()) {
        const size_t nul = rest.find('\0');
        if (nul == std::string_view::npos) in.fail("a permission list without its last NUL");
        strings.push_back(rest.substr(0, nul));
        rest.remove_prefix(nul + 1);
    }
    auto perms = xenstored::Permissions::parse(strings);
    if (!perms) in.fail("a node's permissions do not parse");
    return *perms;
}

uint32_t take_count(BodyReader& in, uint32_t max, const char* what) {
    const auto n = in.take<uint32_t>();
    if (n > max) in.fail(std::to_string(n) + " " + what + ", more than " + std::to_string(max));
    return n;
}

// A request cut short by the save: less than a whole one, whose header (once whole) names
// a payload xenstored would take.
void check_partial(const std::string& bytes, const BodyReader& in) {
    constexpr size_t kHeader = sizeof(xsd_sockmsg);
    if (bytes.size() < kHeader) return;
    xsd_sockmsg header;
    std::memcpy(&header, bytes.data(), kHeader);
    if (header.len > XENSTORE_PAYLOAD_MAX || bytes.size() >= kHeader + header.len)
        in.fail("the partial request is not part of one request");
}

}  // namespace

std::vector<uint8_t> encode_store(const StoreRecord& store) {
    const xenstored::DomainStoreState& st = store.state;
    const xenstored::Session& s = st.session;
    BodyWriter w;
    w.put(st.domid).put(store.port).put(store.ring_gpa);
    w.put(static_cast<uint32_t>(st.nodes.size())).put(static_cast<uint32_t>(s.watches.size()));
    w.put(static_cast<uint32_t>(s.output.size())).put(static_cast<uint32_t>(s.transactions.size()));
    w.put(s.next_transaction_id).put(uint32_t{0});
    w.put_string(s.partial_request);
    for (const auto& n : st.nodes)
        w.put_string(n.path).put_string(n.value).put_string(perms_wire(n.perms));
    for (const auto& watch : s.watches)
        w.put_string(watch.path).put_string(watch.token).put(uint32_t{watch.relative});
    for (const auto& o : s.output) w.put_string(o.bytes).put(uint32_t{o.event});
    for (uint32_t id : s.transactions) w.put(id);
    return w.bytes();
}

StoreRecord decode_store(const Record& r) {
    BodyReader in(r.body, r.offset, "a XENSTORE record");
    StoreRecord out;
    xenstored::DomainStoreState& st = out.state;
    xenstored::Session& s = st.session;
    st.domid = in.take<uint32_t>();
    out.port = in.take<uint32_t>();
    out.ring_gpa = in.take<uint64_t>();
    const uint32_t nodes = take_count(in, kMaxNodes, "nodes");
    const uint32_t watches = take_count(in, kMaxWatches, "watches");
    const uint32_t outputs = take_count(in, kMaxOutputs, "queued messages");
    const uint32_t transactions = take_count(in, kMaxTransactions, "transactions");
    s.next_transaction_id = in.take<uint32_t>();
    if (in.take<uint32_t>() != 0) in.fail("a reserved field is not zero");
    s.partial_request = in.take_string();
    check_partial(s.partial_request, in);
    for (uint32_t i = 0; i < nodes; ++i) {
        xenstored::SavedNode n;
        n.path = in.take_string();
        n.value = in.take_string();
        n.perms = perms_from_wire(in.take_string(), in);
        st.nodes.push_back(std::move(n));
    }
    auto flag = [&in](const char* what) {
        const auto v = in.take<uint32_t>();
        if (v > 1) in.fail(std::string(what) + " is neither 0 nor 1");
        return v == 1;
    };
    for (uint32_t i = 0; i < watches; ++i) {
        xenstored::Watch w;
        w.path = in.take_string();
        w.token = in.take_string();
        w.relative = flag("a watch's relative flag");
        s.watches.push_back(std::move(w));
    }
    for (uint32_t i = 0; i < outputs; ++i) {
        xenstored::SessionOutput o;
        o.bytes = in.take_string();
        o.event = flag("a queued message's event flag");
        s.output.push_back(std::move(o));
    }
    for (uint32_t i = 0; i < transactions; ++i) s.transactions.push_back(in.take<uint32_t>());
    in.finish();
    return out;
}

}  // namespace xenolith::state
