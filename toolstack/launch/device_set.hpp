// A domain's split devices (disks, network interfaces), as libxl adds and removes them:
// both xenstore directories written with libxl's nodes and permissions, the backend
// started in InitWait, and on removal the Closing/Closed handshake before both directories
// go. Each device's backend driver (blkback, netback) is supplied by the caller.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backends/xenbus/backend_device.hpp"
#include "backends/xenstored/watch_client.hpp"

namespace xenolith::launch {

// The toolstack's nodes for one device: libxl's frontend and backend directories.
struct DeviceNodes {
    backends::xenbus::DevicePaths paths;
    std::vector<std::pair<std::string, std::string>>
        frontend;  // besides backend, backend-id, state
    std::vector<std::pair<std::string, std::string>>
        backend;  // besides frontend, frontend-id, online, state
};

// What `xn block-list` / `network-list` show of one device, read back from the store.
struct DeviceStatus {
    backends::xenbus::DevicePaths paths;
    long backend_state = 0;
    long frontend_state = 0;
    std::map<std::string, std::string> frontend;  // the frontend directory's nodes
    std::map<std::string, std::string> backend;   // the backend directory's nodes
};

class DeviceSet {
  public:
    using Log = backends::xenbus::BackendDevice::Log;

    DeviceSet(xenstored::WatchClient& store, Log log) : store_(store), log_(std::move(log)) {}
    // Removes every device without waiting for the guest (its domain is going).
    ~DeviceSet();
    DeviceSet(const DeviceSet&) = delete;
    DeviceSet& operator=(const DeviceSet&) = delete;

    // Writes both directories and starts the backend. On failure nothing of the device is
    // left (nodes removed) and Error says why; an existing devid is refused. `restored`: the
    // frontend directory came back with the domain's saved store nodes, connected, and is
    // left as it is; the backend's is written and the backend connects to the frontend's
    // rings where their indices stand (docs/domain-stream.md).
    void add(const DeviceNodes& nodes, std::unique_ptr<backends::xenbus::Driver> driver,
             bool restored = false);
    // The domain is being saved: every backend quiesces (Driver::quiesce), or, when one
    // cannot, those already quiesced resume and Error says why. resume_all() undoes it.
    void quiesce_all();
    void resume_all();
    // Detach: the handshake, waiting at most `timeout` for the frontend (then forced, as
    // libxl does), then both directories go. False when there is no such device.
    bool remove(const std::string& kind, uint32_t devid, std::chrono::milliseconds timeout);
    // The devices of one kind, in devid order.
    std::vector<DeviceStatus> list(const std::string& kind) const;
    bool contains(const std::string& kind, uint32_t devid) const;
    size_t size() const {
        std::lock_guard lock(mutex_);
        return devices_.size();
    }
    const Log& log() const { return log_; }
    // The driver of a device (for counters), or nullptr.
    backends::xenbus::Driver* driver(const std::string& kind, uint32_t devid) const;

  private:
    using Key = std::pair<std::string, uint32_t>;
    void write_nodes(const DeviceNodes& nodes, uint32_t tx, bool frontend);
    void remove_nodes(const backends::xenbus::DevicePaths& paths);

    xenstored::WatchClient& store_;
    Log log_;
    mutable std::mutex mutex_;
    std::map<Key, std::unique_ptr<backends::xenbus::BackendDevice>> devices_;
};

}  // namespace xenolith::launch
