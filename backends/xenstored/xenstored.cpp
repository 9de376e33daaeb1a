#include "backends/xenstored/xenstored.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <set>

#include "abi/xen.hpp"
#include "backends/xenstored/path.hpp"
#include "backends/xenstored/wire.hpp"

namespace xenolith::xenstored {

namespace {

constexpr unsigned kNoTransaction = 1u << 0;  // tx_id is ignored (WATCH, UNWATCH)
constexpr unsigned kPrivileged = 1u << 1;     // dom0 and the socket only: else EACCES

std::optional<uint32_t> parse_domid(std::string_view text) {
    auto v = parse_decimal(text, 65535);
    if (!v) return std::nullopt;
    return static_cast<uint32_t>(*v);
}

// A domain that can be introduced: not dom0, not DOMID_SELF and the other special ids.
bool is_guest_domid(uint32_t domid) {
    return domid != 0 && domid < DOMID_FIRST_RESERVED;
}

}  // namespace

// One table indexed by message type, as Xen's wire_funcs; empty slots answer ENOSYS.
const std::array<Xenstored::WireFunction, XS_TYPE_COUNT> Xenstored::kWireFunctions = [] {
    std::array<WireFunction, XS_TYPE_COUNT> t{};
    t[XS_CONTROL] = {&Xenstored::do_control, kPrivileged};
    t[XS_DIRECTORY] = {&Xenstored::do_directory, 0};
    t[XS_READ] = {&Xenstored::do_read, 0};
    t[XS_GET_PERMS] = {&Xenstored::do_get_perms, 0};
    t[XS_WATCH] = {&Xenstored::do_watch, kNoTransaction};
    t[XS_UNWATCH] = {&Xenstored::do_unwatch, kNoTransaction};
    t[XS_TRANSACTION_START] = {&Xenstored::do_transaction_start, 0};
    t[XS_TRANSACTION_END] = {&Xenstored::do_transaction_end, 0};
    t[XS_INTRODUCE] = {&Xenstored::do_introduce, kPrivileged};
    t[XS_RELEASE] = {&Xenstored::do_release, kPrivileged};
    t[XS_GET_DOMAIN_PATH] = {&Xenstored::do_get_domain_path, 0};
    t[XS_WRITE] = {&Xenstored::do_write, 0};
    t[XS_MKDIR] = {&Xenstored::do_mkdir, 0};
    t[XS_RM] = {&Xenstored::do_rm, 0};
    t[XS_SET_PERMS] = {&Xenstored::do_set_perms, 0};
    t[XS_IS_DOMAIN_INTRODUCED] = {&Xenstored::do_is_domain_introduced, kPrivileged};
    t[XS_RESUME] = {&Xenstored::do_resume, kPrivileged};
    t[XS_SET_TARGET] = {&Xenstored::do_set_target, kPrivileged};
    t[XS_RESET_WATCHES] = {&Xenstored::do_reset_watches, 0};
    t[XS_DIRECTORY_PART] = {&Xenstored::do_directory_part, 0};
    return t;
}();

Xenstored::Xenstored(Quotas quotas, DomainHooks hooks) : quotas_(quotas), hooks_(std::move(hooks)) {
    special_perms_.emplace(kIntroduceDomain, Permissions(0));
    special_perms_.emplace(kReleaseDomain, Permissions(0));
}

Xenstored::~Xenstored() = default;

// ---- connections ------------------------------------------------------------------------

void Xenstored::attach(Connection* conn) {
    std::lock_guard lock(mutex_);
    connections_.push_back(conn);
}

void Xenstored::detach(Connection* conn) {
    std::lock_guard lock(mutex_);
    connections_.erase(std::remove(connections_.begin(), connections_.end(), conn),
                       connections_.end());
}

size_t Xenstored::connection_count() {
    std::lock_guard lock(mutex_);
    return connections_.size();
}

size_t Xenstored::node_count() {
    std::lock_guard lock(mutex_);
    return tree_.size();
}

bool Xenstored::domain_introduced(uint32_t domid) {
    std::lock_guard lock(mutex_);
    return domains_.introduced(domid);
}

Caller Xenstored::caller_of(const Connection& conn) {
    Caller caller{conn.domid(), conn.privileged(), std::nullopt};
    if (const DomainRecord* d = domains_.find(conn.domid())) caller.target = d->target;
    return caller;
}

uint32_t Xenstored::watches_of(uint32_t domid) const {
    uint32_t n = 0;
    for (const Connection* c : connections_) {
        if (c->domid() == domid) n += static_cast<uint32_t>(c->watches_.size());
    }
    return n;
}

uint32_t Xenstored::transactions_of(uint32_t domid) const {
    uint32_t n = 0;
    for (const Connection* c : connections_) {
        if (c->domid() == domid) n += static_cast<uint32_t>(c->transactions_.size());
    }
    return n;
}

// ---- dispatch ---------------------------------------------------------------------------

void Xenstored::process(Connection& conn, const xsd_sockmsg& header, std::string_view payload) {
    const uint32_t type = header.type;
    if (type >= XS_TYPE_COUNT || !kWireFunctions[type].handler) {
        reply_error(conn, header, ENOSYS);
        return;
    }
    const WireFunction& fn = kWireFunctions[type];
    if ((fn.flags & kPrivileged) && !conn.privileged()) {
        reply_error(conn, header, EACCES);
        return;
    }
    Request req{header, payload, nullptr};
    if (!(fn.flags & kNoTransaction) && header.tx_id != 0) {
        auto it = conn.transactions_.find(header.tx_id);
        if (it == conn.transactions_.end()) {
            reply_error(conn, header, ENOENT);
            return;
        }
        req.transaction = it->second.get();
    }
    if (int err = (this->*fn.handler)(conn, req)) reply_error(conn, header, err);
}

void Xenstored::reply(Connection& conn, const Request& req, std::string_view payload) {
    if (payload.size() > XENSTORE_PAYLOAD_MAX) {
        reply_error(conn, req.header, E2BIG);
        return;
    }
    conn.queue(encode_message(req.header.type, req.header.req_id, req.header.tx_id, payload),
               false);
}

void Xenstored::reply_error(Connection& conn, const xsd_sockmsg& header, int err) {
    std::string payload(error_name(err));
    payload += '\0';
    conn.queue(encode_message(XS_ERROR, header.req_id, header.tx_id, payload), false);
}

// ---- a domain's state, for save/restore ------------------------------------------------

DomainStoreState Xenstored::save_domain(uint32_t domid) {
    std::lock_guard lock(mutex_);
    DomainStoreState state;
    state.domid = domid;
    for (auto& [path, node] : tree_.subtree(domain_path(domid)))
        state.nodes.push_back({path, node.value, node.perms});
    for (const Connection* conn : connections_)
        if (conn->domid() == domid && !conn->privileged() && !conn->released_)
            state.session = conn->session();
    return state;
}

int Xenstored::restore_nodes(const std::vector<SavedNode>& nodes) {
    std::lock_guard lock(mutex_);
    std::set<std::string_view> placed;
    for (const SavedNode& n : nodes) {
        if (!is_valid_node_path(n.path, SIZE_MAX) || n.path == "/" ||
            n.value.size() > XENSTORE_PAYLOAD_MAX)
            return EINVAL;
        const std::string parent = parent_of(n.path);
        if (!placed.count(parent) && !tree_.find(parent)) return EINVAL;
        placed.insert(n.path);
    }
    for (const SavedNode& n : nodes) {
        tree_.put(n.path, Node{n.value, n.perms, 0});
        fire(WatchEvent{n.path, false, {n.perms}});
    }
    return 0;
}

// ---- watches ----------------------------------------------------------------------------

void Xenstored::fire(const WatchEvent& event) {
    for (Connection* conn : connections_) {
        if (conn->closed_ || conn->released_ || conn->watches_.size() == 0) continue;
        const Caller caller = caller_of(*conn);
        bool visible = caller.privileged;
        if (!visible && is_special(event.path)) {
            auto it = special_perms_.find(event.path);
            visible = it != special_perms_.end() && (it->second.rights(caller) & XS_PERM_READ);
        }
        for (size_t i = 0; !visible && i < event.readable_under.size(); ++i) {
            visible = event.readable_under[i].rights(caller) & XS_PERM_READ;
        }
        if (!visible) continue;
        const std::string base = domain_path(conn->domid());
        for (const Watch& watch : conn->watches_.all()) {
            if (!watch_matches(watch, event)) continue;
            std::string payload = event_path_for(watch, event.path, base);
            payload += '\0';
            payload += watch.token;
            payload += '\0';
            // Xen drops events too long to send rather than break the client.
            if (payload.size() > XENSTORE_PAYLOAD_MAX) continue;
            if (conn->events_queued_ >= quotas_.queued_watch_events) continue;
            conn->queue(encode_message(XS_WATCH_EVENT, 0, 0, payload), true);
        }
    }
}

void Xenstored::fire_special(std::string_view path) {
    fire(WatchEvent{std::string(path), false, {}});
}

int Xenstored::do_watch(Connection& conn, const Request& req) {
    auto strings = split_strings(req.payload);
    if (strings.size() != 2) return EINVAL;
    Watch watch;
    watch.token = std::string(strings[1]);
    if (is_special(strings[0])) {
        if (strings[0].size() > XENSTORE_REL_PATH_MAX) return EINVAL;
        watch.path = std::string(strings[0]);
    } else {
        watch.relative = is_relative(strings[0]);
        watch.path = canonicalize(strings[0], conn.domid());
        size_t max_local = conn.privileged() ? SIZE_MAX : quotas_.path_length;
        if (!is_valid_node_path(watch.path, max_local)) return EINVAL;
    }
    for (const Watch& w : conn.watches_.all()) {
        if (w.path == watch.path && w.token == watch.token) return EEXIST;
    }
    if (!conn.privileged() && watches_of(conn.domid()) >= quotas_.watches_per_domain) return E2BIG;
    const Watch added = watch;
    if (int err = conn.watches_.add(std::move(watch))) return err;
    reply(conn, req, std::string_view("OK", 3));
    // Every watch fires once when set: clients need not read the node before watching.
    std::string payload = event_path_for(added, added.path, domain_path(conn.domid()));
    payload += '\0';
    payload += added.token;
    payload += '\0';
    if (payload.size() <= XENSTORE_PAYLOAD_MAX) {
        conn.queue(encode_message(XS_WATCH_EVENT, 0, 0, payload), true);
    }
    return 0;
}

int Xenstored::do_unwatch(Connection& conn, const Request& req) {
    auto strings = split_strings(req.payload);
    if (strings.size() != 2) return EINVAL;
    std::string path = canonicalize(strings[0], conn.domid());
    if (int err = conn.watches_.remove(path, strings[1])) return err;
    reply(conn, req, std::string_view("OK", 3));
    return 0;
}

int Xenstored::do_reset_watches(Connection& conn, const Request& req) {
    conn.watches_.clear();
    conn.transactions_.clear();
    reply(conn, req, std::string_view("OK", 3));
    return 0;
}

// ---- node operations --------------------------------------------------------------------

int Xenstored::run_store_op(Connection& conn, const Request& req,
                            const std::function<int(StoreOps&)>& op) {
    Transaction* tx = req.transaction;
    const Caller caller = caller_of(conn);
    if (tx && !caller.privileged && tx->accessed() >= quotas_.nodes_per_transaction) return ENOSPC;
    std::vector<WatchEvent> events;
    NodeView& view = tx ? static_cast<NodeView&>(*tx) : static_cast<NodeView&>(tree_);
    StoreOps ops(view, caller, quotas_, events);
    if (int err = op(ops)) return err;
    if (tx) {
        auto& pending = tx->pending_events();
        pending.insert(pending.end(), events.begin(), events.end());
    } else {
        for (const WatchEvent& e : events) fire(e);
    }
    return 0;
}

int Xenstored::do_read(Connection& conn, const Request& req) {
    auto path = single_string(req.payload);
    if (!path) return EINVAL;
    std::string value;
    int err = run_store_op(conn, req, [&](StoreOps& ops) { return ops.read(*path, value); });
    if (err == 0) reply(conn, req, value);
    return err;
}

int Xenstored::do_write(Connection& conn, const Request& req) {
    // <path>|<value|>: the value is everything after the path's NUL, NULs included.
    size_t nul = req.payload.find('\0');
    if (nul == std::string_view::npos) return EINVAL;
    std::string_view path = req.payload.substr(0, nul);
    std::string_view value = req.payload.substr(nul + 1);
    int err = run_store_op(conn, req, [&](StoreOps& ops) { return ops.write(path, value); });
    if (err == 0) reply(conn, req, std::string_view("OK", 3));
    return err;
}

int Xenstored::do_mkdir(Connection& conn, const Request& req) {
    auto path = single_string(req.payload);
    if (!path) return EINVAL;
    int err = run_store_op(conn, req, [&](StoreOps& ops) { return ops.mkdir(*path); });
    if (err == 0) reply(conn, req, std::string_view("OK", 3));
    return err;
}

int Xenstored::do_rm(Connection& conn, const Request& req) {
    auto path = single_string(req.payload);
    if (!path) return EINVAL;
    int err = run_store_op(conn, req, [&](StoreOps& ops) { return ops.rm(*path); });
    if (err == 0) reply(conn, req, std::string_view("OK", 3));
    return err;
}

int Xenstored::do_directory(Connection& conn, const Request& req) {
    auto path = single_string(req.payload);
    if (!path) return EINVAL;
    std::vector<std::string> children;
    int err =
        run_store_op(conn, req, [&](StoreOps& ops) { return ops.directory(*path, children); });
    if (err == 0) reply(conn, req, join_strings(children));  // E2BIG when too many
    return err;
}

int Xenstored::do_directory_part(Connection& conn, const Request& req) {
    auto strings = split_strings(req.payload);
    if (strings.size() != 2) return EINVAL;
    auto offset = parse_decimal(strings[1], UINT32_MAX);
    if (!offset) return EINVAL;
    std::string out;
    int err = run_store_op(
        conn, req, [&](StoreOps& ops) { return ops.directory_part(strings[0], *offset, out); });
    if (err == 0) reply(conn, req, out);
    return err;
}

int Xenstored::do_get_perms(Connection& conn, const Request& req) {
    auto path = single_string(req.payload);
    if (!path) return EINVAL;
    if (is_special(*path)) {
        auto it = special_perms_.find(*path);
        if (it == special_perms_.end()) return ENOENT;
        if (!(it->second.rights(caller_of(conn)) & XS_PERM_READ)) return EACCES;
        reply(conn, req, it->second.wire());
        return 0;
    }
    Permissions perms;
    int err = run_store_op(conn, req, [&](StoreOps& ops) { return ops.get_perms(*path, perms); });
    if (err == 0) reply(conn, req, perms.wire());
    return err;
}

int Xenstored::do_set_perms(Connection& conn, const Request& req) {
    auto strings = split_strings(req.payload);
    if (strings.size() < 2) return EINVAL;
    const Caller caller = caller_of(conn);
    if (!caller.privileged && strings.size() - 1 > quotas_.perms_per_node) return ENOSPC;
    auto perms = Permissions::parse({strings.begin() + 1, strings.end()});
    if (!perms) return EINVAL;
    if (is_special(strings[0])) {
        auto it = special_perms_.find(strings[0]);
        if (it == special_perms_.end()) return ENOENT;
        const unsigned need = XS_PERM_WRITE | XS_PERM_OWNER;
        if ((it->second.rights(caller) & need) != need) return EACCES;
        it->second = *perms;
        reply(conn, req, std::string_view("OK", 3));
        return 0;
    }
    int err =
        run_store_op(conn, req, [&](StoreOps& ops) { return ops.set_perms(strings[0], *perms); });
    if (err == 0) reply(conn, req, std::string_view("OK", 3));
    return err;
}

// ---- transactions -----------------------------------------------------------------------

int Xenstored::do_transaction_start(Connection& conn, const Request& req) {
    if (req.transaction) return EBUSY;  // no nesting
    if (!conn.privileged() && transactions_of(conn.domid()) >= quotas_.transactions_per_domain) {
        return ENOSPC;
    }
    uint32_t id = conn.next_transaction_id_;
    while (id == 0 || conn.transactions_.count(id)) ++id;
    conn.next_transaction_id_ = id + 1;
    conn.transactions_.emplace(id, std::make_unique<Transaction>(tree_, id));
    std::string payload = std::to_string(id);
    payload += '\0';
    reply(conn, req, payload);
    return 0;
}

int Xenstored::do_transaction_end(Connection& conn, const Request& req) {
    if (!req.transaction) return ENOENT;
    auto arg = single_string(req.payload);
    if (!arg || (*arg != "T" && *arg != "F")) return EINVAL;
    // The transaction ends here whatever the outcome.
    auto node = conn.transactions_.extract(req.transaction->id());
    std::unique_ptr<Transaction> tx = std::move(node.mapped());
    if (*arg == "T") {
        if (int err = tx->commit()) return err;
        for (const WatchEvent& e : tx->pending_events()) fire(e);
    }
    reply(conn, req, std::string_view("OK", 3));
    return 0;
}

// ---- domains ----------------------------------------------------------------------------

int Xenstored::do_introduce(Connection& conn, const Request& req) {
    auto strings = split_strings(req.payload);
    if (strings.size() < 3) return EINVAL;
    auto domid = parse_domid(strings[0]);
    auto frame = parse_decimal(strings[1], UINT64_MAX);
    auto evtchn = parse_decimal(strings[2], UINT32_MAX);
    if (!domid || !is_guest_domid(*domid) || !frame || !evtchn) return EINVAL;
    if (!domains_.introduced(*domid)) {
        if (hooks_.introduce) {
            if (int err = hooks_.introduce(*domid, *frame, static_cast<uint32_t>(*evtchn)))
                return err;
        }
        domains_.introduce(*domid, *frame, static_cast<uint32_t>(*evtchn));
        fire_special(kIntroduceDomain);
    }
    reply(conn, req, std::string_view("OK", 3));
    return 0;
}

void Xenstored::release(uint32_t domid) {
    domains_.release(domid);
    for (Connection* c : connections_) {
        if (c->domid() == domid && !c->privileged()) {
            c->drop_session();
            c->released_ = true;
        }
    }
    fire_special(kReleaseDomain);
    if (hooks_.release) hooks_.release(domid);
}

int Xenstored::do_release(Connection& conn, const Request& req) {
    auto arg = single_string(req.payload);
    auto domid = arg ? parse_domid(*arg) : std::nullopt;
    if (!domid || !is_guest_domid(*domid)) return EINVAL;
    if (!domains_.introduced(*domid)) return ENOENT;
    release(*domid);
    reply(conn, req, std::string_view("OK", 3));
    return 0;
}

bool Xenstored::domain_gone(uint32_t domid) {
    std::lock_guard lock(mutex_);
    if (!is_guest_domid(domid) || !domains_.introduced(domid)) return false;
    release(domid);
    return true;
}

void Xenstored::domain_shutdown(uint32_t domid) {
    std::lock_guard lock(mutex_);
    DomainRecord* d = domains_.find(domid);
    if (!d || d->shutdown_reported) return;
    d->shutdown_reported = true;
    fire_special(kReleaseDomain);
}

int Xenstored::do_is_domain_introduced(Connection& conn, const Request& req) {
    auto arg = single_string(req.payload);
    auto domid = arg ? parse_domid(*arg) : std::nullopt;
    if (!domid) return EINVAL;
    reply(conn, req,
          domains_.introduced(*domid) ? std::string_view("T", 2) : std::string_view("F", 2));
    return 0;
}

int Xenstored::do_get_domain_path(Connection& conn, const Request& req) {
    auto arg = single_string(req.payload);
    auto domid = arg ? parse_domid(*arg) : std::nullopt;
    if (!domid) return EINVAL;
    std::string path = domain_path(*domid);
    path += '\0';
    reply(conn, req, path);
    return 0;
}

int Xenstored::do_resume(Connection& conn, const Request& req) {
    auto arg = single_string(req.payload);
    auto domid = arg ? parse_domid(*arg) : std::nullopt;
    if (!domid) return EINVAL;
    DomainRecord* d = domains_.find(*domid);
    if (!d) return ENOENT;
    d->shutdown_reported = false;
    reply(conn, req, std::string_view("OK", 3));
    return 0;
}

int Xenstored::do_set_target(Connection& conn, const Request& req) {
    auto strings = split_strings(req.payload);
    if (strings.size() != 2) return EINVAL;
    auto domid = parse_domid(strings[0]);
    auto target = parse_domid(strings[1]);
    if (!domid || !target) return EINVAL;
    DomainRecord* d = domains_.find(*domid);
    if (!d || !domains_.introduced(*target)) return ENOENT;
    d->target = *target;
    reply(conn, req, std::string_view("OK", 3));
    return 0;
}

int Xenstored::do_control(Connection& conn, const Request& req) {
    auto strings = split_strings(req.payload);
    if (strings.empty()) return EINVAL;
    const std::string_view cmd = strings[0];
    if (cmd == "help") {
        std::string text = "check\nhelp\nprint <string>\nquota\n";
        text += '\0';
        reply(conn, req, text);
    } else if (cmd == "check" || cmd == "print") {
        reply(conn, req, std::string_view("OK", 3));
    } else if (cmd == "quota") {
        std::string text = "nodes-per-domain " + std::to_string(quotas_.nodes_per_domain) +
                           "\nvalue-size " + std::to_string(quotas_.value_size) +
                           "\nwatches-per-domain " + std::to_string(quotas_.watches_per_domain) +
                           "\ntransactions-per-domain " +
                           std::to_string(quotas_.transactions_per_domain) + "\nperms-per-node " +
                           std::to_string(quotas_.perms_per_node) + "\nnodes-per-transaction " +
                           std::to_string(quotas_.nodes_per_transaction) + "\npath-length " +
                           std::to_string(quotas_.path_length) + "\noutstanding-requests " +
                           std::to_string(quotas_.outstanding_requests) + "\nqueued-watch-events " +
                           std::to_string(quotas_.queued_watch_events) + "\n";
        text += '\0';
        reply(conn, req, text);
    } else {
        return EINVAL;
    }
    return 0;
}

}  // namespace xenolith::xenstored
