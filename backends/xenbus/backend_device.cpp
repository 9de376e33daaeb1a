#include "backends/xenbus/backend_device.hpp"

#include "backends/xenstored/wire.hpp"
#include "base/error.hpp"

namespace xenolith::backends::xenbus {

std::string DevicePaths::backend() const {
    return "/local/domain/0/backend/" + kind + "/" + std::to_string(frontend_id) + "/" +
           std::to_string(devid);
}

std::string DevicePaths::frontend() const {
    return "/local/domain/" + std::to_string(frontend_id) + "/device/" + kind + "/" +
           std::to_string(devid);
}

std::string DevicePaths::name() const {
    return kind + " " + std::to_string(devid) + " of domain " + std::to_string(frontend_id);
}

std::optional<std::string> FrontendNodes::read(std::string_view node) const {
    return store_.try_read(dir_ + "/" + std::string(node));
}

uint64_t FrontendNodes::number(std::string_view node, uint64_t max,
                               std::optional<uint64_t> fallback) const {
    auto text = read(node);
    if (!text) {
        if (fallback) return *fallback;
        throw Error("frontend node " + std::string(node) + ": missing");
    }
    auto value = xenstored::parse_decimal(*text, max);
    if (!value)
        throw Error("frontend node " + std::string(node) + ": '" + text->substr(0, 32) +
                    "' is not a number up to " + std::to_string(max));
    return *value;
}

const char* state_name(long state) {
    switch (state) {
        case XenbusStateUnknown:
            return "Unknown";
        case XenbusStateInitialising:
            return "Initialising";
        case XenbusStateInitWait:
            return "InitWait";
        case XenbusStateInitialised:
            return "Initialised";
        case XenbusStateConnected:
            return "Connected";
        case XenbusStateClosing:
            return "Closing";
        case XenbusStateClosed:
            return "Closed";
        case XenbusStateReconfiguring:
            return "Reconfiguring";
        case XenbusStateReconfigured:
            return "Reconfigured";
        default:
            return "Invalid";
    }
}

BackendDevice::BackendDevice(xenstored::WatchClient& store, DevicePaths paths,
                             std::unique_ptr<Driver> driver, Log log)
    : store_(store), paths_(std::move(paths)), driver_(std::move(driver)), log_(std::move(log)) {
    driver_->set_failure_hook([this](const std::string& reason) { fail(reason); });
    const std::string dir = paths_.backend();
    for (const auto& [node, value] : driver_->features()) store_.write(dir + "/" + node, value);
    {
        std::lock_guard lock(mutex_);
        switch_state(XenbusStateInitWait);
    }
    watch_ = store_.watch(paths_.frontend() + "/state",
                          [this](std::string_view) { frontend_changed(); });
}

BackendDevice::~BackendDevice() {
    watch_.reset();
    {
        std::lock_guard lock(mutex_);
        disconnect_locked();
    }
    // The driver goes while this device's mutex still exists: its threads may report a
    // failure (fail()) until they are joined.
    driver_.reset();
}

void BackendDevice::switch_state(XenbusState state) {
    state_ = state;
    try {
        store_.write(paths_.backend() + "/state", std::to_string(state));
    } catch (const Error& e) {
        // The directory was removed under us (a forced detach): nothing left to tell.
    }
    changed_.notify_all();
}

void BackendDevice::connect_locked() {
    try {
        failed_ = false;
        driver_->connect(FrontendNodes(store_, paths_.frontend()));
        connected_ = true;
        // The data path may have failed already, before this thread could switch state.
        switch_state(failed_.exchange(false) ? XenbusStateClosing : XenbusStateConnected);
    } catch (const Error& e) {
        driver_->disconnect();
        log_(paths_.name() + ": not connected: " + e.what());
        switch_state(XenbusStateClosing);
    }
}

void BackendDevice::disconnect_locked() {
    if (!connected_) return;
    driver_->disconnect();
    connected_ = false;
}

// The frontend's state changed (or the watch was set): follow it as Linux's blkback does.
void BackendDevice::frontend_changed() {
    auto text = store_.try_read(paths_.frontend() + "/state");
    std::optional<uint64_t> fe;
    if (text) fe = xenstored::parse_decimal(*text, XenbusStateReconfigured);
    std::lock_guard lock(mutex_);
    frontend_state_ = fe ? std::optional<long>(static_cast<long>(*fe)) : std::nullopt;
    changed_.notify_all();
    switch (fe ? static_cast<long>(*fe) : long{XenbusStateUnknown}) {
        case XenbusStateInitialising:
            if (state_ == XenbusStateClosed && !closing_) switch_state(XenbusStateInitWait);
            break;
        case XenbusStateInitialised:
        case XenbusStateConnected:
            if (state_ == XenbusStateInitWait && !closing_) connect_locked();
            break;
        case XenbusStateClosing:
            disconnect_locked();
            switch_state(XenbusStateClosing);
            break;
        case XenbusStateInitWait:
            break;
        default:  // Closed, Unknown, gone or garbage: the frontend is not there any more
            disconnect_locked();
            if (state_ != XenbusStateClosed) switch_state(XenbusStateClosed);
            break;
    }
}

bool BackendDevice::close(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    closing_ = true;
    switch_state(XenbusStateClosing);
    bool closed = changed_.wait_for(lock, timeout, [&] {
        return !frontend_state_ || *frontend_state_ == XenbusStateClosed ||
               *frontend_state_ == XenbusStateUnknown ||
               *frontend_state_ == XenbusStateInitialising ||
               *frontend_state_ == XenbusStateInitWait;
    });
    disconnect_locked();
    switch_state(XenbusStateClosed);
    return closed;
}

// The driver's thread may call this while the watch thread holds mutex_ to disconnect
// that very driver (and waits for its thread): never block on the lock here.
void BackendDevice::fail(const std::string& reason) {
    log_(paths_.name() + ": disconnected: " + reason);
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock) {
        failed_ = true;
        return;
    }
    if (state_ == XenbusStateConnected) switch_state(XenbusStateClosing);
}

XenbusState BackendDevice::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

}  // namespace xenolith::backends::xenbus
