// The PVH domain builder's memory side: copies a PvhLayout (pvh_layout.hpp) into guest RAM.
//
// It works on a plain span so that it can be tested against a std::vector; the hv layer
// passes its GuestMemory mapping and sets vCPU 0 from layout.registers.
#pragma once

#include <cstdint>
#include <span>

#include "boot/elf_image.hpp"
#include "boot/pvh_layout.hpp"

namespace xenolith::boot {

// Writes the kernel's segments (file bytes, then zeros up to each memory size), the
// initramfs, the boot-info page and the ACPI tables, and zeroes the console and xenstore
// ring pages and the grant seed page. `ram` is the domain's RAM below the MMIO hole, guest
// physical address 0 at ram[0], at least layout.low_ram_end bytes. `kernel` must be the
// image the layout was made from and `initramfs` the bytes whose size it was given. Throws
// xenolith::Error when they do not match or anything would fall outside `ram`.
void write_pvh_domain(std::span<uint8_t> ram, const PvhLayout& layout, const ElfImage& kernel,
                      std::span<const uint8_t> initramfs);

}  // namespace xenolith::boot
