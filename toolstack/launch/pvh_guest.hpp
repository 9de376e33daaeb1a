// What turns a created PVH domain into a bootable guest: the kernel, initramfs, boot-info
// page and ACPI tables laid out by boot/pvh_*, vCPU 0 at the PVH entry in 32-bit protected
// mode, the HVM params that point the guest at its console and xenstore rings, and the
// console backend. The PVH counterpart of pv_guest.hpp.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "backends/console/console_backend.hpp"
#include "boot/pvh_image.hpp"
#include "boot/pvh_layout.hpp"
#include "hv/hypervisor.hpp"
#include "toolstack/launch/pv_guest.hpp"
#include "toolstack/launch/store_service.hpp"

namespace xenolith::launch {

struct PvhGuestImage {
    const boot::PvhKernel& kernel;
    std::span<const uint8_t> initramfs;  // empty: none
    bool has_initramfs = false;
    std::string_view cmdline;
    std::string_view kernel_name = "kernel";
    std::string_view initramfs_name = "initramfs";
};

// Builds `domain` (Building, kind Pvh, registered in `hv`). The returned PvGuest's layout
// names the console and store rings and ports as for a PV guest. Throws Error on failure.
PvGuest setup_pvh_guest(hv::Hypervisor& hv, hv::Domain& domain, const PvhGuestImage& image,
                        backends::ConsoleBackend::Sink sink, StoreService* store = nullptr);

// vCPU 0's KVM state at the PVH entry (boot/pvh_layout.hpp's registers, the LAPIC enabled
// at its default base as the boot processor's).

}  // namespace xenolith::launch
