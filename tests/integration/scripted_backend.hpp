// What the scripted test backends (blkfront_test, netfront_test) share: the backend side of
// one split device's xenbus handshake, played through the store as domid 0 does it, and
// the frontend's grants and event channel mapped and bound as the daemon would. The
// device protocol itself (blkif, netif) stays in each test.
#pragma once

#include <poll.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "abi/xen.hpp"
#include "backends/xenstored/local_client.hpp"
#include "hv/grant_table.hpp"
#include "hv/host_channel.hpp"
#include "toolstack/launch/store_service.hpp"

#include <xen/io/xenbus.h>

namespace xenolith::integration {

class ScriptedXenbus {
  public:
    // The device `kind` ("vbd", "vif") `devid` of `dom`, at the paths libxl uses.
    ScriptedXenbus(launch::StoreService& store, std::shared_ptr<hv::Domain> dom,
                   const std::string& kind, uint32_t devid)
        : client_(store.daemon()), dom_(std::move(dom)) {
        const std::string id = std::to_string(dom_->id());
        fe_ = "/local/domain/" + id + "/device/" + kind + "/" + std::to_string(devid);
        be_ = "/local/domain/0/backend/" + kind + "/" + id + "/" + std::to_string(devid);
    }
    ~ScriptedXenbus() { stop(); }
    ScriptedXenbus(const ScriptedXenbus&) = delete;
    ScriptedXenbus& operator=(const ScriptedXenbus&) = delete;

    hv::Domain& dom() { return *dom_; }
    const std::string& fe() const { return fe_; }
    const std::string& be() const { return be_; }

    // Both directories with libxl's permissions (nodes written below them inherit these).
    void create_dirs() {
        const std::string id = std::to_string(dom_->id());
        client_.mkdir(be_);
        client_.set_perms(be_, {"n0", "r" + id});
        client_.mkdir(fe_);
        client_.set_perms(fe_, {"n" + id, "r0"});
    }
    void write(const std::string& path, const std::string& value) { client_.write(path, value); }
    // A node's value, "" when absent (the guest may have removed it, or never written it).
    std::string read(const std::string& path) {
        try {
            return client_.read(path);
        } catch (const std::exception&) {
            return "";
        }
    }
    std::string fe_node(const std::string& node) { return read(fe_ + "/" + node); }
    std::string fe_state() { return fe_node("state"); }
    std::string be_state() { return read(be_ + "/state"); }
    void set_state(XenbusState state) { write(be_ + "/state", std::to_string(state)); }

    // The page the frontend granted us in its node `node`, mapped as domid 0.
    hv::GrantMapping map_fe_grant(const std::string& node) {
        return dom_->grant_table().map(std::stoul(fe_node(node)), 0, false);
    }
    // Binds the frontend's event-channel (the port it allocated for us).
    void bind_channel() {
        channel_ = std::make_unique<hv::HostChannel>(dom_, std::stoul(fe_node("event-channel")));
    }
    hv::HostChannel& channel() { return *channel_; }
    void close_channel() { channel_.reset(); }
    // Waits up to a millisecond for a notification from the frontend and consumes it.
    void wait_event() {
        pollfd p{channel_->fd(), POLLIN, 0};
        poll(&p, 1, 1);
        channel_->consume();
    }

    // One look at the frontend, for the backend thread's loop. `connect` maps the
    // frontend's rings once it is Initialised (then we go Connected); an unplug() or the
    // frontend's Closing makes us Closing. finish: the frontend is Closed (or removed while
    // closing): the caller unmaps, then calls closed().
    enum class Step { wait, serve, finish };
    Step step(const std::function<bool()>& connect) {
        std::string fe = fe_state();
        if (!connected_ && fe == "3") {
            connected_ = connect();
            if (connected_) set_state(XenbusStateConnected);
        }
        if ((unplug_ || fe == "5") && !closing_) {
            closing_ = true;
            set_state(XenbusStateClosing);
        }
        if (fe == "6" || (fe.empty() && closing_)) return Step::finish;
        return connected_ ? Step::serve : Step::wait;
    }
    bool closing() const { return closing_; }
    void closed() { set_state(XenbusStateClosed); }

    // Starts the backend thread; it runs `loop` while running() holds.
    void start(std::function<void()> loop) { thread_ = std::thread(std::move(loop)); }
    bool running() const { return !stop_; }
    // Hot-unplug: the backend goes Closing at the thread's next step.
    void unplug() { unplug_ = true; }
    // Stops and joins the thread (the owner calls this first in its destructor, before the
    // state the thread uses goes away).
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }

  private:
    xenstored::LocalClient client_;
    std::shared_ptr<hv::Domain> dom_;
    std::string fe_, be_;
    std::unique_ptr<hv::HostChannel> channel_;
    bool connected_ = false, closing_ = false;  // the thread's own
    std::atomic<bool> stop_{false}, unplug_{false};
    std::thread thread_;
};

}  // namespace xenolith::integration
