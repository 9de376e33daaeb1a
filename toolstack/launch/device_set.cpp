#include "toolstack/launch/device_set.hpp"

#include "backends/xenstored/wire.hpp"
#include "base/error.hpp"

namespace xenolith::launch {

using backends::xenbus::BackendDevice;
using backends::xenbus::DevicePaths;

DeviceSet::~DeviceSet() {
    std::map<Key, std::unique_ptr<BackendDevice>> devices;
    {
        std::lock_guard lock(mutex_);
        devices.swap(devices_);
    }
    for (auto& [key, dev] : devices) {
        DevicePaths paths = dev->paths();
        dev.reset();
        remove_nodes(paths);
    }
}

void DeviceSet::remove_nodes(const DevicePaths& paths) {
    for (const std::string& dir : {paths.frontend(), paths.backend()}) {
        try {
            store_.rm(dir);
        } catch (const Error&) {
            // Already gone (the guest may remove its own frontend directory).
        }
    }
    // libxl leaves no empty backend/<kind>/<domid> behind either.
    const std::string parent = paths.backend().substr(0, paths.backend().rfind('/'));
    try {
        if (store_.directory(parent).empty()) store_.rm(parent);
    } catch (const Error&) {
    }
}

// libxl's layout: the frontend directory belongs to the guest (the backend reads it), the
// backend directory to dom0 (the guest reads it). Written in one transaction, so that
// neither side ever sees half a device.
void DeviceSet::add(const DeviceNodes& nodes, std::unique_ptr<backends::xenbus::Driver> driver,
                    bool restored) {
    const DevicePaths& p = nodes.paths;
    const Key key{p.kind, p.devid};
    std::lock_guard lock(mutex_);
    if (devices_.count(key)) throw Error(p.name() + " already exists");
    for (int attempt = 0;; ++attempt) {
        uint32_t tx = store_.transaction_start();
        try {
            write_nodes(nodes, tx, !restored);
        } catch (...) {
            store_.transaction_end(tx, false);
            throw;
        }
        if (store_.transaction_end(tx, true)) break;
        if (attempt == 16) throw Error(p.name() + ": xenstore kept conflicting");
    }
    try {
        devices_[key] = std::make_unique<BackendDevice>(store_, p, std::move(driver), log_);
    } catch (...) {
        devices_.erase(key);
        remove_nodes(p);
        throw;
    }
}

void DeviceSet::write_nodes(const DeviceNodes& nodes, uint32_t tx, bool frontend) {
    const DevicePaths& p = nodes.paths;
    const std::string fe = p.frontend(), be = p.backend();
    const std::string guest = std::to_string(p.frontend_id);
    if (frontend) {
        store_.mkdir(fe, tx);
        store_.set_perms(fe, {"n" + guest, "r0"}, tx);
        store_.write(fe + "/backend", be, tx);
        store_.write(fe + "/backend-id", "0", tx);
        store_.write(fe + "/state", std::to_string(XenbusStateInitialising), tx);
        for (const auto& [k, v] : nodes.frontend) store_.write(fe + "/" + k, v, tx);
    }
    store_.mkdir(be, tx);
    store_.set_perms(be, {"n0", "r" + guest}, tx);
    store_.write(be + "/frontend", fe, tx);
    store_.write(be + "/frontend-id", guest, tx);
    store_.write(be + "/online", "1", tx);
    store_.write(be + "/state", std::to_string(XenbusStateInitialising), tx);
    for (const auto& [k, v] : nodes.backend) store_.write(be + "/" + k, v, tx);
}

void DeviceSet::quiesce_all() {
    std::lock_guard lock(mutex_);
    std::vector<BackendDevice*> done;
    for (auto& [key, dev] : devices_) {
        try {
            dev->driver().quiesce();
        } catch (const Error& e) {
            for (BackendDevice* d : done) d->driver().resume();
            throw Error(dev->paths().name() + ": " + e.what());
        }
        done.push_back(dev.get());
    }
}

void DeviceSet::resume_all() {
    std::lock_guard lock(mutex_);
    for (auto& [key, dev] : devices_) dev->driver().resume();
}

bool DeviceSet::remove(const std::string& kind, uint32_t devid, std::chrono::milliseconds timeout) {
    std::unique_ptr<BackendDevice> dev;
    {
        std::lock_guard lock(mutex_);
        auto it = devices_.find({kind, devid});
        if (it == devices_.end()) return false;
        dev = std::move(it->second);
        devices_.erase(it);
    }
    store_.write(dev->paths().backend() + "/online", "0");
    if (!dev->close(timeout)) log_(dev->paths().name() + ": the guest did not close it; forced");
    DevicePaths paths = dev->paths();
    dev.reset();
    remove_nodes(paths);
    return true;
}

namespace {

long state_of(const std::map<std::string, std::string>& nodes) {
    auto it = nodes.find("state");
    if (it == nodes.end()) return 0;
    auto v = xenstored::parse_decimal(it->second, 1000);
    return v ? static_cast<long>(*v) : -1;
}

}  // namespace

std::vector<DeviceStatus> DeviceSet::list(const std::string& kind) const {
    std::vector<DevicePaths> paths;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [key, dev] : devices_)
            if (key.first == kind) paths.push_back(dev->paths());
    }
    std::vector<DeviceStatus> out;
    for (const DevicePaths& p : paths) {
        DeviceStatus s{p, 0, 0, {}, {}};
        auto read_dir = [&](const std::string& dir, std::map<std::string, std::string>& into) {
            try {
                for (const std::string& name : store_.directory(dir))
                    if (auto v = store_.try_read(dir + "/" + name)) into[name] = *v;
            } catch (const Error&) {
            }
        };
        read_dir(p.frontend(), s.frontend);
        read_dir(p.backend(), s.backend);
        s.frontend_state = state_of(s.frontend);
        s.backend_state = state_of(s.backend);
        out.push_back(std::move(s));
    }
    return out;
}

bool DeviceSet::contains(const std::string& kind, uint32_t devid) const {
    std::lock_guard lock(mutex_);
    return devices_.count({kind, devid}) != 0;
}

backends::xenbus::Driver* DeviceSet::driver(const std::string& kind, uint32_t devid) const {
    std::lock_guard lock(mutex_);
    auto it = devices_.find({kind, devid});
    return it == devices_.end() ? nullptr : &it->second->driver();
}

}  // namespace xenolith::launch
