// What turns a created domain into a bootable PV guest: the image laid out by the domain
// builder, and the PV console served by its backend. One place, used by `xn run`, the
// integration tests and the benchmarks alike.
#pragma once

#include <memory>
#include <string_view>

#include "backends/console/console_backend.hpp"
#include "boot/elf_image.hpp"
#include "boot/pv_builder.hpp"
#include "hv/hypervisor.hpp"

namespace xenolith::launch {

struct PvGuest {
    boot::PvLayout layout;
    // Destroy it before the domain: it drains the guest's last output first.
    std::unique_ptr<backends::ConsoleBackend> console;
};

// Builds `domain` (Building, registered in `hv`) from `image` and connects its console:
// the ring and the emergency console_io both go to `sink`. Throws Error on failure.
PvGuest setup_pv_guest(hv::Hypervisor& hv, hv::Domain& domain, const boot::ElfImage& image,
                       std::string_view cmdline, backends::ConsoleBackend::Sink sink);

}  // namespace xenolith::launch
