// What turns a created domain into a bootable PV guest: the image laid out by the domain
// builder, and the PV console served by its backend. One place, used by `xn run`, the
// integration tests and the benchmarks alike.
#pragma once

#include <memory>
#include <string_view>
#include <utility>

#include "backends/console/console_backend.hpp"
#include "boot/elf_image.hpp"
#include "boot/pv_builder.hpp"
#include "hv/hypervisor.hpp"
#include "toolstack/launch/device_set.hpp"
#include "toolstack/launch/store_service.hpp"

namespace xenolith::launch {

// The domain's entry in the store, removed (and @releaseDomain fired) when this goes.
class StoreEntry {
  public:
    StoreEntry() = default;
    StoreEntry(StoreService* store, domid_t id) : store_(store), id_(id) {}
    StoreEntry(StoreEntry&& o) noexcept : store_(std::exchange(o.store_, nullptr)), id_(o.id_) {}
    StoreEntry& operator=(StoreEntry&& o) noexcept {
        if (this != &o) {
            reset();
            store_ = std::exchange(o.store_, nullptr);
            id_ = o.id_;
        }
        return *this;
    }
    ~StoreEntry() { reset(); }
    void reset() {
        if (store_) std::exchange(store_, nullptr)->remove_domain(id_);
    }

  private:
    StoreService* store_ = nullptr;
    domid_t id_ = 0;
};

struct PvGuest {
    boot::PvLayout layout;
    // Destroy them before the domain: the console drains the guest's last output first.
    std::unique_ptr<backends::ConsoleBackend> console;
    StoreEntry store;
    // Disks and network interfaces (with a store only): declared after `store`, so that
    // they close before the domain's nodes go.
    std::unique_ptr<DeviceSet> devices;
};

// Builds `domain` (Building, registered in `hv`) from `image` and connects its console:
// the ring and the emergency console_io both go to `sink`. With a `store`, the domain's
// xenstore nodes are written and its store ring goes live. Throws Error on failure.
PvGuest setup_pv_guest(hv::Hypervisor& hv, hv::Domain& domain, const boot::ElfImage& image,
                       std::string_view cmdline, backends::ConsoleBackend::Sink sink,
                       StoreService* store = nullptr);

}  // namespace xenolith::launch
