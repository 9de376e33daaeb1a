#include "boot/pvh_layout.hpp"
#include "boot/image_bytes.hpp"

#include <errno.h>  // xs_wire.h defines xsd_errors only when errno names are visible
#include <xen/hvm/e820.h>
#include <xen/io/xs_wire.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/error.hpp"

namespace xenolith::boot {

// The boot-info page is the structures' bytes as the guest reads them: little-endian.
static_assert(std::endian::native == std::endian::little);
// Each ring is one page, as the guest maps it.
static_assert(sizeof(xencons_interface) <= kPvhPageSize);
static_assert(sizeof(xenstore_domain_interface) <= kPvhPageSize);

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

// x86 architectural bits (not Xen ABI, so not in the Xen headers).
constexpr uint64_t kCr0Pe = 1u << 0;        // protected mode
constexpr uint64_t kCr0Et = 1u << 4;        // hardwired to 1 on every CPU since the 486
constexpr uint32_t kEflagsFixed = 1u << 1;  // bit 1 always reads as 1
constexpr uint8_t kTypeCodeExecReadAccessed = 0xb;
constexpr uint8_t kTypeDataReadWriteAccessed = 0x3;
constexpr uint8_t kTypeTss32Busy = 0xb;
constexpr uint32_t kTssLimit = 0x67;  // a 32-bit TSS without an I/O bitmap
// Selector values are unspecified by the ABI; these are the slots of Linux's boot GDT
// (__BOOT_CS, __BOOT_DS) so register dumps look familiar.
constexpr uint16_t kCodeSelector = 0x10;
constexpr uint16_t kDataSelector = 0x18;
constexpr uint16_t kTssSelector = 0x20;

std::string range(uint64_t start, uint64_t end) {
    return "[" + hex(start) + ", " + hex(end) + ")";
}

uint64_t mib_rounded_up(uint64_t bytes) {
    return bytes / kMiB + (bytes % kMiB != 0);
}

uint64_t page_align_up(uint64_t value) {  // value < 2^63 here
    return (value + kPvhPageSize - 1) & ~(kPvhPageSize - 1);
}

// A flat 4 GiB segment (the limit in bytes, counted in 4 KiB pages), 32-bit, DPL 0.
platform::Segment flat_segment(uint16_t selector, uint8_t type) {
    return {.base = 0,
            .limit = 0xffffffff,
            .selector = selector,
            .type = type,
            .present = 1,
            .dpl = 0,
            .db = 1,
            .s = 1,
            .l = 0,
            .g = 1};
}

// The kernel's extent, after checking each segment lies in low RAM and none overlap.
struct KernelExtent {
    uint64_t start;
    uint64_t end;
};

KernelExtent check_segments(const PvhLayoutRequest& request, uint64_t low_ram_end) {
    const std::string kernel(request.kernel_name);
    std::vector<LoadSegment> segments;
    for (const LoadSegment& s : request.segments) {
        if (s.mem_size == 0) continue;  // occupies nothing
        if (s.paddr < kPvhMinKernelAddress || s.paddr > low_ram_end ||
            s.mem_size > low_ram_end - s.paddr) {
            const uint64_t end = s.paddr + std::min(s.mem_size, UINT64_MAX - s.paddr);
            throw Error(kernel + ": segment " + range(s.paddr, end) +
                        " lies outside the domain's kernel area " +
                        range(kPvhMinKernelAddress, low_ram_end) + " (" +
                        std::to_string(request.memory_bytes / kMiB) + " MiB of RAM)");
        }
        segments.push_back(s);
    }
    if (segments.empty()) throw Error(kernel + ": the kernel has no loadable bytes");
    std::sort(segments.begin(), segments.end(),
              [](const auto& a, const auto& b) { return a.paddr < b.paddr; });
    KernelExtent extent{segments.front().paddr, 0};
    for (const LoadSegment& s : segments) {
        if (s.paddr < extent.end)
            throw Error(kernel + ": segments overlap at " + hex(s.paddr) + " in physical memory");
        extent.end = s.paddr + s.mem_size;  // checked against low_ram_end above
    }

    bool entry_inside = false;
    for (const LoadSegment& s : segments)
        entry_inside =
            entry_inside || (request.entry >= s.paddr && request.entry - s.paddr < s.mem_size);
    if (!entry_inside)
        throw Error(kernel + ": PVH entry " + hex(request.entry) +
                    " does not lie inside any of its loaded segments");
    return extent;
}

std::vector<hvm_memmap_table_entry> memory_map(uint64_t low_ram_end, uint64_t high_ram) {
    auto entry = [](uint64_t start, uint64_t end, uint32_t type) {
        return hvm_memmap_table_entry{
            .addr = start, .size = end - start, .type = type, .reserved = 0};
    };
    std::vector<hvm_memmap_table_entry> map = {
        entry(0, kPvhBootInfoPaddr, XEN_HVM_MEMMAP_TYPE_RAM),
        // Reserved so that the guest never hands out the page it is reading its boot data
        // from (Linux copies what it needs early on), nor the two ring pages the hypervisor
        // and the backends keep using, nor the grant seed page.
        entry(kPvhBootInfoPaddr, kPvhAcpiPaddr, XEN_HVM_MEMMAP_TYPE_RESERVED),
        // ACPI, not RAM: the tables stay readable for as long as the OS wants them.
        entry(kPvhAcpiPaddr, kPvhAcpiMaxEnd, XEN_HVM_MEMMAP_TYPE_ACPI),
        entry(kPvhAcpiMaxEnd, kPvhLegacyHoleStart, XEN_HVM_MEMMAP_TYPE_RAM),
        entry(kPvhLegacyHoleStart, kPvhLegacyHoleEnd, XEN_HVM_MEMMAP_TYPE_RESERVED),
        entry(kPvhLegacyHoleEnd, low_ram_end, XEN_HVM_MEMMAP_TYPE_RAM),
    };
    if (high_ram != 0)
        map.push_back(
            entry(kPvhHighRamStart, kPvhHighRamStart + high_ram, XEN_HVM_MEMMAP_TYPE_RAM));
    return map;
}

template <class T>
void put(std::vector<uint8_t>& page, uint64_t offset, const T& value) {
    std::memcpy(page.data() + offset, &value, sizeof value);
}

}  // namespace

platform::BootContext pvh_entry_context(uint32_t entry, uint32_t start_info_paddr) {
    platform::BootContext ctx;
    ctx.mode = platform::BootContext::Mode::Pvh32;
    ctx.regs.rip = entry;
    ctx.regs.rbx = start_info_paddr;
    ctx.regs.rflags = kEflagsFixed;  // IF, TF and VM clear, as the ABI requires
    platform::SegmentState& s = ctx.segments;
    s.cr0 = kCr0Pe | kCr0Et;  // every other writable bit clear: no paging, no caches disabled
    s.cr4 = 0;
    s.efer = 0;
    s.cs = flat_segment(kCodeSelector, kTypeCodeExecReadAccessed);
    s.ds = s.es = s.ss = s.fs = s.gs = flat_segment(kDataSelector, kTypeDataReadWriteAccessed);
    // "a 32-bit TSS (active)", a system segment.
    s.tr = {.base = 0,
            .limit = kTssLimit,
            .selector = kTssSelector,
            .type = kTypeTss32Busy,
            .present = 1};
    s.ldt = {};  // unusable; and no GDT or IDT: the kernel loads its own before it needs them
    return ctx;
}

PvhLayout layout_pvh_domain(const PvhLayoutRequest& request) {
    const std::string kernel(request.kernel_name);
    PvhLayout layout;
    layout.memory_bytes = request.memory_bytes;
    if (request.memory_bytes % kPvhPageSize != 0)
        throw Error("the domain's memory size " + std::to_string(request.memory_bytes) +
                    " is not a whole number of 4 KiB pages");
    if (request.memory_bytes <= kPvhMinKernelAddress)
        throw Error("a PVH domain needs more than 1 MiB of RAM; this one has " +
                    std::to_string(request.memory_bytes) + " bytes");
    layout.low_ram_end = std::min<uint64_t>(request.memory_bytes, HVM_BELOW_4G_RAM_END);
    const uint64_t high_ram = request.memory_bytes - layout.low_ram_end;

    if (request.cmdline.size() > kPvhMaxCmdline)
        throw Error("the kernel command line is " + std::to_string(request.cmdline.size()) +
                    " bytes, longer than the " + std::to_string(kPvhMaxCmdline) +
                    "-byte limit of a PVH domain");
    if (request.cmdline.find('\0') != std::string_view::npos)
        throw Error("the kernel command line contains a NUL byte");

    const KernelExtent extent = check_segments(request, layout.low_ram_end);
    layout.kernel_start = extent.start;
    layout.kernel_end = extent.end;

    if (request.initramfs_size) {
        const uint64_t size = *request.initramfs_size;
        const std::string initramfs(request.initramfs_name);
        if (size == 0) throw Error(initramfs + ": the initramfs is empty");
        // Right after the kernel, page-aligned, as Xen's domain builder places modules.
        const uint64_t at = page_align_up(extent.end);
        if (at >= layout.low_ram_end || size > layout.low_ram_end - at)
            throw Error(initramfs + ": initramfs of " + std::to_string(mib_rounded_up(size)) +
                        " MiB does not fit in the " + std::to_string(request.memory_bytes / kMiB) +
                        " MiB domain beside the kernel");
        layout.initramfs_paddr = at;
        layout.initramfs_size = size;
        layout.modules.push_back({.paddr = at, .size = size, .cmdline_paddr = 0, .reserved = 0});
    }

    AcpiTables acpi = build_acpi_tables({.base_paddr = kPvhAcpiPaddr,
                                         .nr_vcpus = request.nr_vcpus,
                                         .sleep_control_port = request.sleep_control_port,
                                         .reset_port = request.reset_port,
                                         .reset_value = request.reset_value});
    layout.acpi_paddr = kPvhAcpiPaddr;
    layout.rsdp_paddr = acpi.rsdp_paddr;
    layout.acpi = std::move(acpi.bytes);  // at most kAcpiTablesMaxSize: they fit the space
    layout.console_paddr = kPvhConsolePaddr;
    layout.store_paddr = kPvhStorePaddr;
    layout.grant_seed_paddr = kPvhGrantSeedPaddr;

    layout.memmap = memory_map(layout.low_ram_end, high_ram);
    layout.start_info_paddr = kPvhBootInfoPaddr + kPvhStartInfoOffset;
    layout.memmap_paddr = kPvhBootInfoPaddr + kPvhMemmapOffset;
    if (!layout.modules.empty()) layout.modlist_paddr = kPvhBootInfoPaddr + kPvhModlistOffset;
    if (!request.cmdline.empty()) layout.cmdline_paddr = kPvhBootInfoPaddr + kPvhCmdlineOffset;

    hvm_start_info& si = layout.start_info;
    si.magic = XEN_HVM_START_MAGIC_VALUE;
    si.version = 1;  // the first version with the memory map
    si.flags = 0;    // no SIF_* flag applies to an unprivileged domain
    si.nr_modules = static_cast<uint32_t>(layout.modules.size());
    si.modlist_paddr = layout.modlist_paddr;
    si.cmdline_paddr = layout.cmdline_paddr;
    si.rsdp_paddr = layout.rsdp_paddr;
    si.memmap_paddr = layout.memmap_paddr;
    si.memmap_entries = static_cast<uint32_t>(layout.memmap.size());
    si.reserved = 0;

    auto& page = layout.boot_info;
    page.assign(kPvhPageSize, 0);
    put(page, kPvhStartInfoOffset, si);
    for (size_t i = 0; i < layout.modules.size(); ++i)
        put(page, kPvhModlistOffset + i * sizeof(hvm_modlist_entry), layout.modules[i]);
    for (size_t i = 0; i < layout.memmap.size(); ++i)
        put(page, kPvhMemmapOffset + i * sizeof(hvm_memmap_table_entry), layout.memmap[i]);
    std::memcpy(page.data() + kPvhCmdlineOffset, request.cmdline.data(), request.cmdline.size());

    layout.boot = pvh_entry_context(request.entry, static_cast<uint32_t>(layout.start_info_paddr));
    return layout;
}

}  // namespace xenolith::boot
