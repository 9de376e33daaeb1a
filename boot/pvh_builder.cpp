#include "boot/pvh_builder.hpp"

#include <algorithm>
#include <cstring>

#include "base/error.hpp"

namespace xenolith::boot {

namespace {

// True when [start, start + size) lies within [lo, hi); never overflows.
bool within(uint64_t start, uint64_t size, uint64_t lo, uint64_t hi) {
    return start >= lo && start <= hi && size <= hi - start;
}

}  // namespace

void write_pvh_domain(std::span<uint8_t> ram, const PvhLayout& layout, const ElfImage& kernel,
                      std::span<const uint8_t> initramfs) {
    const std::string& name = kernel.name();
    if (ram.size() < layout.low_ram_end)
        throw Error("guest RAM of " + std::to_string(ram.size()) +
                    " bytes is smaller than the layout's " + std::to_string(layout.low_ram_end) +
                    " bytes of low memory");
    if (initramfs.size() != layout.initramfs_size)
        throw Error("the initramfs is " + std::to_string(initramfs.size()) +
                    " bytes but the layout was made for " + std::to_string(layout.initramfs_size));
    if (layout.boot_info.size() != kPvhPageSize)
        throw Error("the PVH layout has no boot-info page");
    if (layout.acpi.empty() ||
        !within(layout.acpi_paddr, layout.acpi.size(), kPvhAcpiPaddr, kPvhAcpiMaxEnd))
        throw Error("the PVH layout has no ACPI tables in the space kept for them");
    if (layout.console_paddr != kPvhConsolePaddr || layout.store_paddr != kPvhStorePaddr ||
        layout.grant_seed_paddr != kPvhGrantSeedPaddr)
        throw Error(
            "the PVH layout's console, xenstore and grant pages are not where the "
            "memory map reserves them");

    // Check everything before writing anything, so a mismatch leaves RAM untouched.
    for (const LoadSegment& s : kernel.segments()) {
        if (s.mem_size != 0 && !within(s.paddr, s.mem_size, layout.kernel_start, layout.kernel_end))
            throw Error(name + ": a segment lies outside the kernel area the layout was made for");
    }
    if (!within(layout.kernel_start, layout.kernel_end - layout.kernel_start, 0,
                layout.low_ram_end) ||
        !within(layout.initramfs_paddr, layout.initramfs_size, 0, layout.low_ram_end))
        throw Error("the PVH layout places data outside its own low memory");

    for (const LoadSegment& s : kernel.segments()) {
        if (s.mem_size == 0) continue;
        const auto bytes = kernel.segment_bytes(s);
        uint8_t* dst = ram.data() + s.paddr;
        std::memcpy(dst, bytes.data(), bytes.size());
        // The bss: RAM from a fresh memfd is zero already, but a reused buffer may not be.
        std::memset(dst + bytes.size(), 0, s.mem_size - bytes.size());
    }
    if (!initramfs.empty())
        std::memcpy(ram.data() + layout.initramfs_paddr, initramfs.data(), initramfs.size());
    std::memcpy(ram.data() + kPvhBootInfoPaddr, layout.boot_info.data(), kPvhPageSize);
    // Both rings start empty (all indexes 0), and every grant entry grants nothing until the
    // toolstack seeds the reserved ones.
    std::memset(ram.data() + layout.console_paddr, 0, kPvhPageSize);
    std::memset(ram.data() + layout.store_paddr, 0, kPvhPageSize);
    std::memset(ram.data() + layout.grant_seed_paddr, 0, kPvhPageSize);
    // The tables, then zeros to the end of the space the memory map gives as ACPI memory.
    const uint64_t acpi_end = layout.acpi_paddr + layout.acpi.size();
    std::memcpy(ram.data() + layout.acpi_paddr, layout.acpi.data(), layout.acpi.size());
    std::memset(ram.data() + acpi_end, 0, kPvhAcpiMaxEnd - acpi_end);
}

}  // namespace xenolith::boot
