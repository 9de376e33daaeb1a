// Where a PVH domain's boot pieces go in guest-physical memory, and the bytes and vCPU state
// that put them there: the Xen "x86/HVM direct boot ABI" (Xen's docs/misc/pvh.pandoc and
// <xen/arch-x86/hvm/start_info.h>).
//
// layout_pvh_domain() is a pure function of its inputs, so every placement rule is testable
// without KVM; write_pvh_domain() (pvh_builder.hpp) copies the result into guest RAM, and
// the entry state is a neutral platform::BootContext that the KVM platform applies.
//
// Guest-physical map (all boot data stays below 4 GiB, as Xen's own builder keeps it):
//   0x0000_0000  page 0: RAM, never used ("nothing will be loaded at physical address 0")
//   0x0000_1000  boot-info page (reserved): hvm_start_info, module list, memory map, cmdline
//   0x0000_2000  PV console ring page (reserved), handed over as HVM_PARAM_CONSOLE_PFN
//   0x0000_3000  xenstore ring page (reserved), handed over as HVM_PARAM_STORE_PFN
//   0x0000_4000  grant seed page (reserved): grant-table frame 0 until the guest maps it
//   0x0000_5000  ACPI tables (ACPI type), RSDP first; one page
//   0x0000_6000  RAM
//   0x000a_0000  reserved: the legacy VGA/BIOS range, which Linux would reserve anyway; its
//                first two pages hold the system-call trace's trampoline when one is set
//                (vmi/linux/entry_trampoline.hpp)
//   0x0010_0000  RAM: kernel segments (from 1 MiB up), then the initramfs after the kernel
//   0xf000_0000  the MMIO hole (HVM_BELOW_4G_RAM_END), left out of the map
//   4 GiB        the rest of the RAM, when the domain has more than fits below the hole
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "abi/xen.hpp"  // before any Xen header: it includes <stdint.h> first

#include <xen/arch-x86/hvm/start_info.h>

#include "boot/acpi_tables.hpp"
#include "boot/elf_image.hpp"
#include "platform/platform.hpp"

namespace xenolith::boot {

inline constexpr uint64_t kPvhPageSize = 4096;
// The boot-info page and the offsets of what it holds.
inline constexpr uint64_t kPvhBootInfoPaddr = 0x1000;
inline constexpr uint64_t kPvhStartInfoOffset = 0x000;
inline constexpr uint64_t kPvhModlistOffset = 0x040;
inline constexpr uint64_t kPvhMemmapOffset = 0x080;
inline constexpr uint64_t kPvhMaxMemmapEntries = 16;
inline constexpr uint64_t kPvhCmdlineOffset = 0x200;
// Linux's x86 COMMAND_LINE_SIZE is 2048 bytes with the NUL: a longer line would be cut.
inline constexpr uint64_t kPvhMaxCmdline = 2047;
// Pages the hypervisor hands to the guest through HVM params, zeroed by write_pvh_domain:
// the PV console ring (struct xencons_interface) and the xenstore ring (struct
// xenstore_domain_interface). The guest finds them by number, so they sit at fixed places.
inline constexpr uint64_t kPvhConsolePaddr = 0x2000;
inline constexpr uint64_t kPvhStorePaddr = 0x3000;
// Where grant-table frame 0 starts out, zeroed by write_pvh_domain, so that the toolstack can
// seed the reserved console and xenstore entries (GNTTAB_RESERVED_CONSOLE, _XENSTORE) before
// the guest maps the table into its own RAM with XENMAPSPACE_grant_table.
inline constexpr uint64_t kPvhGrantSeedPaddr = 0x4000;
// The ACPI tables (acpi_tables.hpp), RSDP first. The memory map gives the guest the whole
// space up to kPvhAcpiMaxEnd as ACPI memory; the tables use what they need of it.
inline constexpr uint64_t kPvhAcpiPaddr = 0x5000;
inline constexpr uint64_t kPvhAcpiMaxEnd =
    kPvhAcpiPaddr + (kAcpiTablesMaxSize + kPvhPageSize - 1) / kPvhPageSize * kPvhPageSize;
// The I/O ports of the ACPI registers; acpi_tables.hpp says what the guest writes to them.
// 0x600-0x6ff is unassigned on a PC and the domain has no device model there, so no driver
// touches these ports unless the FADT sends it.
inline constexpr uint16_t kPvhSleepControlPort = 0x604;  // SLEEP_CONTROL_REG and SLEEP_STATUS_REG
inline constexpr uint16_t kPvhResetPort = 0x605;         // RESET_REG
inline constexpr uint8_t kPvhResetValue = 1;             // RESET_VALUE
// Legacy PC range kept out of RAM.
inline constexpr uint64_t kPvhLegacyHoleStart = 0xa0000;
inline constexpr uint64_t kPvhLegacyHoleEnd = 0x100000;
// The system-call trace's trampoline page and the page table that maps it: reserved RAM
// the guest never allocates, written only once a trace starts.
inline constexpr uint64_t kPvhProbeCodePaddr = kPvhLegacyHoleStart;
inline constexpr uint64_t kPvhProbeTablePaddr = kPvhLegacyHoleStart + kPvhPageSize;
// Kernel segments must lie at or above 1 MiB, clear of the boot page and the legacy range.
inline constexpr uint64_t kPvhMinKernelAddress = kPvhLegacyHoleEnd;
inline constexpr uint64_t kPvhHighRamStart = uint64_t{1} << 32;

static_assert(sizeof(hvm_start_info) <= kPvhModlistOffset - kPvhStartInfoOffset);
static_assert(sizeof(hvm_modlist_entry) <= kPvhMemmapOffset - kPvhModlistOffset);
static_assert(kPvhMaxMemmapEntries * sizeof(hvm_memmap_table_entry) <=
              kPvhCmdlineOffset - kPvhMemmapOffset);
static_assert(kPvhCmdlineOffset + kPvhMaxCmdline + 1 <= kPvhPageSize);
static_assert(kPvhConsolePaddr == kPvhBootInfoPaddr + kPvhPageSize &&
              kPvhStorePaddr == kPvhConsolePaddr + kPvhPageSize &&
              kPvhGrantSeedPaddr == kPvhStorePaddr + kPvhPageSize &&
              kPvhAcpiPaddr == kPvhGrantSeedPaddr + kPvhPageSize);
static_assert(kPvhAcpiPaddr % kAcpiTableAlignment == 0);
static_assert(kPvhAcpiMaxEnd <= kPvhLegacyHoleStart);

struct PvhLayoutRequest {
    uint64_t memory_bytes = 0;              // the domain's RAM, a whole number of pages
    std::span<const LoadSegment> segments;  // the kernel's PT_LOADs (physical addresses)
    uint32_t entry = 0;                     // XEN_ELFNOTE_PHYS32_ENTRY
    std::optional<uint64_t> initramfs_size;
    std::string_view cmdline;
    std::string_view kernel_name = "kernel";        // for messages
    std::string_view initramfs_name = "initramfs";  // for messages
    uint32_t nr_vcpus = 1;                          // each gets a local APIC in the MADT
    uint16_t sleep_control_port = kPvhSleepControlPort;
    uint16_t reset_port = kPvhResetPort;
    uint8_t reset_value = kPvhResetValue;
};

struct PvhLayout {
    uint64_t memory_bytes = 0;
    uint64_t low_ram_end = 0;      // RAM below the MMIO hole ends here; the writer needs this much
    uint64_t kernel_start = 0;     // lowest segment address
    uint64_t kernel_end = 0;       // end of the highest segment
    uint64_t initramfs_paddr = 0;  // 0 without an initramfs
    uint64_t initramfs_size = 0;
    uint64_t start_info_paddr = 0;
    uint64_t modlist_paddr = 0;  // 0 without modules
    uint64_t memmap_paddr = 0;
    uint64_t cmdline_paddr = 0;     // 0 for an empty command line
    uint64_t console_paddr = 0;     // the console ring page, for HVM_PARAM_CONSOLE_PFN
    uint64_t store_paddr = 0;       // the xenstore ring page, for HVM_PARAM_STORE_PFN
    uint64_t grant_seed_paddr = 0;  // where grant-table frame 0 starts out
    uint64_t acpi_paddr = 0;        // where `acpi` goes
    uint64_t rsdp_paddr = 0;        // start_info.rsdp_paddr
    hvm_start_info start_info{};
    std::vector<hvm_modlist_entry> modules;
    std::vector<hvm_memmap_table_entry> memmap;
    std::vector<uint8_t> boot_info;  // kPvhPageSize bytes for kPvhBootInfoPaddr
    std::vector<uint8_t> acpi;       // the ACPI tables for acpi_paddr
    // vCPU 0's state at the PVH entry: 32-bit flat protected mode, paging off,
    // interrupts off (mode Pvh32).
    platform::BootContext boot;
};

// Places everything and builds the boot-info page, the ACPI tables and the entry registers.
// Throws xenolith::Error with one sentence when the kernel, initramfs or command line cannot
// fit or the ACPI tables cannot describe the vCPUs.
PvhLayout layout_pvh_domain(const PvhLayoutRequest& request);

// The entry state the PVH ABI prescribes, with EIP (the XEN_ELFNOTE_PHYS32_ENTRY address)
// and EBX (the hvm_start_info's physical address) filled in. ESP is left 0: the ABI leaves it
// unspecified and the kernel sets up its own stack.
platform::BootContext pvh_entry_context(uint32_t entry, uint32_t start_info_paddr);

}  // namespace xenolith::boot
