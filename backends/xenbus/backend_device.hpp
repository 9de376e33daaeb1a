// The backend's half of a xenbus split device (what Linux's xenbus_probe_backend and a
// driver's frontend_changed do for blkback and netback): it publishes the driver's
// features, waits in InitWait for the frontend, connects the driver when the frontend says
// Initialised (or Connected), and disconnects it when the frontend closes. The states are
// XenbusState from <xen/io/xenbus.h>, in the decimal `state` nodes of both directories.
//
// The frontend is the guest and hostile: its state node may hold anything, its nodes may
// be missing or lie. A refused connection is one log line and the backend goes Closing;
// nothing else in the daemon is affected.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "abi/xen.hpp"
#include "backends/xenstored/watch_client.hpp"

#include <xen/io/xenbus.h>

namespace xenolith::backends::xenbus {

// Where a device's two directories are, as libxl lays them out (backend domain 0).
struct DevicePaths {
    domid_t frontend_id = 0;
    std::string kind;  // "vbd", "vif"
    uint32_t devid = 0;

    std::string backend() const;   // /local/domain/0/backend/<kind>/<domid>/<devid>
    std::string frontend() const;  // /local/domain/<domid>/device/<kind>/<devid>
    // "vbd 51712 of domain 3": how log lines name the device.
    std::string name() const;
};

// Reads the frontend's nodes for a driver's connect(); every read names the node in its
// error ("frontend node event-channel: missing").
class FrontendNodes {
  public:
    FrontendNodes(xenstored::WatchClient& store, std::string dir)
        : store_(store), dir_(std::move(dir)) {}
    std::optional<std::string> read(std::string_view node) const;
    // A decimal number in [0, max]; throws Error when missing (unless `fallback`) or malformed.
    uint64_t number(std::string_view node, uint64_t max,
                    std::optional<uint64_t> fallback = std::nullopt) const;
    const std::string& dir() const { return dir_; }

  private:
    xenstored::WatchClient& store_;
    std::string dir_;
};

// What a device kind supplies.
class Driver {
  public:
    virtual ~Driver() = default;
    // Nodes written into the backend directory before InitWait (feature-*, sectors, ...).
    virtual std::vector<std::pair<std::string, std::string>> features() = 0;
    // The frontend is Initialised: map its rings and bind its channel. Throws Error with
    // the reason when it cannot; the backend then goes Closing.
    virtual void connect(const FrontendNodes& frontend) = 0;
    // Stops the data path and drops every grant and channel (idempotent).
    virtual void disconnect() = 0;
    // The domain is being saved (docs/domain-stream.md): the data path stops taking
    // requests, finishes and answers those it took, and lets go of the ring, so that the
    // ring in the guest's RAM says all there is to say; data written reaches the disk.
    // resume() serves the same ring again, from where its indices stand (save -c, or a
    // save that failed). Throws Error when it cannot be quiesced.
    virtual void quiesce() = 0;
    virtual void resume() = 0;

    // Set by BackendDevice: where the data path reports a hostile frontend.
    void set_failure_hook(std::function<void(const std::string&)> hook) { fail_ = std::move(hook); }

  protected:
    // The data path found the frontend hostile (any thread): the device goes Closing.
    void failed(const std::string& reason) {
        if (fail_) fail_(reason);
    }

  private:
    std::function<void(const std::string&)> fail_;
};

class BackendDevice {
  public:
    using Log = std::function<void(const std::string& line)>;

    // The toolstack has written both directories; this publishes the features, goes
    // InitWait and starts following the frontend. Throws Error when the store refuses.
    BackendDevice(xenstored::WatchClient& store, DevicePaths paths, std::unique_ptr<Driver> driver,
                  Log log);
    // Disconnects the driver, without waiting for the frontend.
    ~BackendDevice();
    BackendDevice(const BackendDevice&) = delete;
    BackendDevice& operator=(const BackendDevice&) = delete;

    // Detach (xl block-detach): Closing, then wait until the frontend is Closed (or gone)
    // for at most `timeout`; the driver is disconnected and the backend Closed either way.
    // Returns whether the frontend closed in time.
    bool close(std::chrono::milliseconds timeout);
    // The data path found the frontend hostile (a broken ring): one log line, Closing.
    // Callable from any thread, the driver's own included, also while this device is
    // connecting or disconnecting that driver (the change is then made when it is done).
    void fail(const std::string& reason);

    XenbusState state() const;
    const DevicePaths& paths() const { return paths_; }
    Driver& driver() { return *driver_; }

  private:
    void frontend_changed();
    void switch_state(XenbusState state);
    void connect_locked();
    void disconnect_locked();

    xenstored::WatchClient& store_;
    const DevicePaths paths_;
    std::unique_ptr<Driver> driver_;
    Log log_;
    mutable std::mutex mutex_;  // state_, connected_, frontend_state_; serializes driver calls
    std::condition_variable changed_;
    XenbusState state_ = XenbusStateInitialising;
    std::optional<long> frontend_state_;  // nullopt: no state node (frontend gone)
    bool connected_ = false;
    bool closing_ = false;
    std::atomic<bool> failed_{false};  // set by fail() while another call held mutex_
    xenstored::WatchHandle watch_;     // last: unwatched first on destruction
};

// The name of a state ("Connected"), for messages and `xn block-list`.
const char* state_name(long state);

}  // namespace xenolith::backends::xenbus
