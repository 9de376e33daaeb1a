// The xenstore daemon's state and Xen's wire protocol: the node tree, domains, every
// connection's watches and transactions, and one handler per message type, dispatched
// through one table indexed by type (as Xen's xenstored does).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "backends/xenstored/connection.hpp"
#include "backends/xenstored/domains.hpp"
#include "backends/xenstored/node_tree.hpp"
#include "backends/xenstored/quotas.hpp"
#include "backends/xenstored/store_ops.hpp"
#include "backends/xenstored/watches.hpp"

namespace xenolith::xenstored {

// How xenstored reaches the hypervisor side: INTRODUCE hands over a domain's ring frame and
// event channel (map it, bind it and create that domain's Connection; return an errno value
// to refuse), RELEASE and domain death take them back. Called with the daemon's lock held,
// on the requesting connection's thread; creating or destroying a Connection there is fine.
struct DomainHooks {
    std::function<int(uint32_t domid, uint64_t ring_frame, uint32_t evtchn)> introduce;
    std::function<void(uint32_t domid)> release;
};

class Xenstored {
  public:
    explicit Xenstored(Quotas quotas = {}, DomainHooks hooks = {});
    ~Xenstored();
    Xenstored(const Xenstored&) = delete;
    Xenstored& operator=(const Xenstored&) = delete;

    const Quotas& quotas() const { return quotas_; }

    // The hypervisor side reports a domain's end: as RELEASE (@releaseDomain, its watches
    // and transactions dropped). False if it was not introduced.
    bool domain_gone(uint32_t domid);
    // A domain shut down but still exists: @releaseDomain fires once, until RESUME.
    void domain_shutdown(uint32_t domid);

    bool domain_introduced(uint32_t domid);

    // A guest's part of the store (domain_state.hpp): its home's nodes, and its ring
    // connection's session if it has one. The caller keeps that ring's transport still.
    DomainStoreState save_domain(uint32_t domid);
    // Puts saved nodes into the store as they were, parents first (the first one's parent
    // must exist: EINVAL otherwise, and nothing is changed), firing their watches.
    int restore_nodes(const std::vector<SavedNode>& nodes);
    size_t node_count();
    size_t connection_count();

  private:
    friend class Connection;

    struct Request {
        xsd_sockmsg header;
        std::string_view payload;
        Transaction* transaction = nullptr;
    };
    using Handler = int (Xenstored::*)(Connection&, const Request&);
    struct WireFunction {
        Handler handler = nullptr;
        unsigned flags = 0;
    };
    static const std::array<WireFunction, XS_TYPE_COUNT> kWireFunctions;

    void attach(Connection* conn);
    void detach(Connection* conn);
    void process(Connection& conn, const xsd_sockmsg& header, std::string_view payload);
    void reply(Connection& conn, const Request& req, std::string_view payload);
    void reply_error(Connection& conn, const xsd_sockmsg& header, int err);
    void fire(const WatchEvent& event);
    void fire_special(std::string_view path);
    void release(uint32_t domid);
    Caller caller_of(const Connection& conn);
    uint32_t watches_of(uint32_t domid) const;
    uint32_t transactions_of(uint32_t domid) const;

    // Runs a node operation on the request's view (its transaction, or the live tree) and
    // fires or, inside a transaction, defers the watch events of its changes.
    int run_store_op(Connection& conn, const Request& req, const std::function<int(StoreOps&)>& op);

    int do_read(Connection& conn, const Request& req);
    int do_write(Connection& conn, const Request& req);
    int do_mkdir(Connection& conn, const Request& req);
    int do_rm(Connection& conn, const Request& req);
    int do_directory(Connection& conn, const Request& req);
    int do_get_perms(Connection& conn, const Request& req);
    int do_set_perms(Connection& conn, const Request& req);
    int do_directory_part(Connection& conn, const Request& req);
    int do_watch(Connection& conn, const Request& req);
    int do_unwatch(Connection& conn, const Request& req);
    int do_reset_watches(Connection& conn, const Request& req);
    int do_transaction_start(Connection& conn, const Request& req);
    int do_transaction_end(Connection& conn, const Request& req);
    int do_introduce(Connection& conn, const Request& req);
    int do_release(Connection& conn, const Request& req);
    int do_is_domain_introduced(Connection& conn, const Request& req);
    int do_get_domain_path(Connection& conn, const Request& req);
    int do_resume(Connection& conn, const Request& req);
    int do_set_target(Connection& conn, const Request& req);
    int do_control(Connection& conn, const Request& req);

    // Recursive: DomainHooks may create or destroy Connections while a request holds it.
    std::recursive_mutex mutex_;
    Quotas quotas_;
    DomainHooks hooks_;
    NodeTree tree_;
    DomainTable domains_;
    std::vector<Connection*> connections_;
    std::map<std::string, Permissions, std::less<>> special_perms_;
};

}  // namespace xenolith::xenstored
