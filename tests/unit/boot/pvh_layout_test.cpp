// layout_pvh_domain places a PVH kernel, its initramfs and the hvm_start_info page as the
// Xen direct boot ABI describes, and refuses what does not fit with one sentence. It is a
// pure function: no KVM, no guest memory.
#include "boot/pvh_layout.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "base/error.hpp"

namespace xenolith::boot {
namespace {

using ::testing::HasSubstr;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = kMiB << 10;
constexpr uint32_t kEntry = 0x1000040;

// Linux-like: text at 16 MiB, data and bss behind it.
const std::vector<LoadSegment> kSegments = {
    {.paddr = 0x1000000, .vaddr = 0, .file_offset = 0, .file_size = 0x2000, .mem_size = 0x2000},
    {.paddr = 0x1400000, .vaddr = 0, .file_offset = 0, .file_size = 0x1000, .mem_size = 0x5123},
};
constexpr uint64_t kKernelEnd = 0x1405123;

PvhLayoutRequest request(uint64_t memory = 64 * kMiB) {
    return {
        .memory_bytes = memory, .segments = kSegments, .entry = kEntry, .cmdline = "console=hvc0"};
}

std::string layout_error(const PvhLayoutRequest& r) {
    try {
        layout_pvh_domain(r);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

template <class T>
T read(const std::vector<uint8_t>& page, uint64_t offset) {
    T value;
    std::memcpy(&value, page.data() + offset, sizeof value);
    return value;
}

TEST(PvhLayout, StartInfoFieldsFollowTheAbi) {
    const PvhLayout l = layout_pvh_domain(request());
    const hvm_start_info& si = l.start_info;
    EXPECT_EQ(si.magic, XEN_HVM_START_MAGIC_VALUE);
    EXPECT_EQ(si.version, 1u);
    EXPECT_EQ(si.flags, 0u);
    EXPECT_EQ(si.nr_modules, 0u);
    EXPECT_EQ(si.modlist_paddr, 0u);
    EXPECT_EQ(si.cmdline_paddr, kPvhBootInfoPaddr + kPvhCmdlineOffset);
    EXPECT_EQ(si.rsdp_paddr, kPvhAcpiPaddr);  // the RSDP starts the ACPI tables
    EXPECT_EQ(si.memmap_paddr, kPvhBootInfoPaddr + kPvhMemmapOffset);
    EXPECT_EQ(si.memmap_entries, l.memmap.size());
    EXPECT_EQ(si.reserved, 0u);
    EXPECT_EQ(l.start_info_paddr, kPvhBootInfoPaddr);
    EXPECT_EQ(l.kernel_start, 0x1000000u);
    EXPECT_EQ(l.kernel_end, kKernelEnd);
}

TEST(PvhLayout, BootInfoPageHoldsTheStructuresAtTheirAddresses) {
    const PvhLayout l = layout_pvh_domain(request());
    ASSERT_EQ(l.boot_info.size(), kPvhPageSize);
    const auto si = read<hvm_start_info>(l.boot_info, l.start_info_paddr - kPvhBootInfoPaddr);
    EXPECT_EQ(si.magic, XEN_HVM_START_MAGIC_VALUE);
    EXPECT_EQ(si.memmap_entries, l.memmap.size());
    for (size_t i = 0; i < l.memmap.size(); ++i) {
        const auto e = read<hvm_memmap_table_entry>(
            l.boot_info, si.memmap_paddr - kPvhBootInfoPaddr + i * sizeof(hvm_memmap_table_entry));
        EXPECT_EQ(e.addr, l.memmap[i].addr);
        EXPECT_EQ(e.size, l.memmap[i].size);
        EXPECT_EQ(e.type, l.memmap[i].type);
    }
    const char* cmdline =
        reinterpret_cast<const char*>(l.boot_info.data() + si.cmdline_paddr - kPvhBootInfoPaddr);
    EXPECT_STREQ(cmdline, "console=hvc0");
}

TEST(PvhLayout, MemoryMapCoversRamAndReservesBootPagesAcpiAndLegacyRange) {
    const PvhLayout l = layout_pvh_domain(request(64 * kMiB));
    struct Expect {
        uint64_t addr, size;
        uint32_t type;
    };
    const std::vector<Expect> want = {
        {0, 0x1000, XEN_HVM_MEMMAP_TYPE_RAM},
        {0x1000, 0x4000, XEN_HVM_MEMMAP_TYPE_RESERVED},  // boot info, console, store, grants
        {0x5000, 0x1000, XEN_HVM_MEMMAP_TYPE_ACPI},
        {0x6000, 0xa0000 - 0x6000, XEN_HVM_MEMMAP_TYPE_RAM},
        {0xa0000, 0x60000, XEN_HVM_MEMMAP_TYPE_RESERVED},
        {0x100000, 63 * kMiB, XEN_HVM_MEMMAP_TYPE_RAM},
    };
    ASSERT_EQ(l.memmap.size(), want.size());
    uint64_t ram = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(l.memmap[i].addr, want[i].addr);
        EXPECT_EQ(l.memmap[i].size, want[i].size);
        EXPECT_EQ(l.memmap[i].type, want[i].type);
        EXPECT_EQ(l.memmap[i].reserved, 0u);
        ram += l.memmap[i].size;
    }
    EXPECT_EQ(ram, 64 * kMiB);  // entries are contiguous and cover exactly the domain
    EXPECT_EQ(l.low_ram_end, 64 * kMiB);
}

TEST(PvhLayout, RamBeyondTheMmioHoleMovesAbove4GiB) {
    const PvhLayout l = layout_pvh_domain(request(5 * kGiB));
    EXPECT_EQ(l.low_ram_end, 0xf0000000u);
    ASSERT_EQ(l.memmap.size(), 7u);
    EXPECT_EQ(l.memmap[5].addr + l.memmap[5].size, 0xf0000000u);
    EXPECT_EQ(l.memmap[6].addr, 4 * kGiB);
    EXPECT_EQ(l.memmap[6].size, 5 * kGiB - 0xf0000000u);
    EXPECT_EQ(l.memmap[6].type, static_cast<uint32_t>(XEN_HVM_MEMMAP_TYPE_RAM));
}

TEST(PvhLayout, ConsoleStoreGrantsAndAcpiFollowTheBootInfoPage) {
    const PvhLayout l = layout_pvh_domain(request());
    EXPECT_EQ(l.console_paddr, 0x2000u);
    EXPECT_EQ(l.store_paddr, 0x3000u);
    EXPECT_EQ(l.grant_seed_paddr, 0x4000u);
    EXPECT_EQ(l.acpi_paddr, 0x5000u);
    EXPECT_EQ(l.rsdp_paddr, 0x5000u);
    ASSERT_FALSE(l.acpi.empty());
    EXPECT_LE(l.acpi_paddr + l.acpi.size(), kPvhAcpiMaxEnd);
    EXPECT_EQ(std::string(l.acpi.begin(), l.acpi.begin() + 8), "RSD PTR ");
    // The boot-info page carries the RSDP's address too.
    EXPECT_EQ(read<hvm_start_info>(l.boot_info, kPvhStartInfoOffset).rsdp_paddr, l.rsdp_paddr);
}

// The ACPI tables of a layout, found from the RSDP as the guest finds them.
struct AcpiView {
    const PvhLayout& l;
    template <class T>
    T at(uint64_t paddr) const {
        return read<T>(l.acpi, paddr - l.acpi_paddr);
    }
    uint64_t xsdt_entry(unsigned i) const {
        return at<uint64_t>(at<uint64_t>(l.rsdp_paddr + 24) + 36 + 8 * i);
    }
    uint64_t fadt() const { return xsdt_entry(0); }
    uint64_t madt() const { return xsdt_entry(1); }
};

TEST(PvhLayout, AcpiTablesDescribeTheVcpusAndPortsAsked) {
    PvhLayoutRequest r = request();
    const PvhLayout with_defaults = layout_pvh_domain(r);
    const AcpiView defaults{with_defaults};
    EXPECT_EQ(defaults.at<uint32_t>(defaults.madt() + 4), 44u + 8);  // one local APIC
    EXPECT_EQ(defaults.at<uint64_t>(defaults.fadt() + 244 + 4), kPvhSleepControlPort);
    EXPECT_EQ(defaults.at<uint64_t>(defaults.fadt() + 116 + 4), kPvhResetPort);
    EXPECT_EQ(defaults.at<uint8_t>(defaults.fadt() + 128), kPvhResetValue);

    r.nr_vcpus = 4;
    r.sleep_control_port = 0xb004;
    r.reset_port = 0xcf9;
    r.reset_value = 6;
    const PvhLayout l = layout_pvh_domain(r);
    const AcpiView v{l};
    EXPECT_EQ(v.at<uint32_t>(v.madt() + 4), 44u + 4 * 8);
    EXPECT_EQ(v.at<uint64_t>(v.fadt() + 244 + 4), 0xb004u);  // SLEEP_CONTROL_REG address
    EXPECT_EQ(v.at<uint64_t>(v.fadt() + 256 + 4), 0xb004u);  // SLEEP_STATUS_REG address
    EXPECT_EQ(v.at<uint64_t>(v.fadt() + 116 + 4), 0xcf9u);   // RESET_REG address
    EXPECT_EQ(v.at<uint8_t>(v.fadt() + 128), 6);
}

TEST(PvhLayout, VcpusTheAcpiTablesCannotDescribeAreRefused) {
    PvhLayoutRequest r = request();
    r.nr_vcpus = 0;
    EXPECT_EQ(layout_error(r), "the ACPI tables need at least one vCPU to describe");
    r.nr_vcpus = kAcpiMaxVcpus + 1;
    EXPECT_THAT(layout_error(r), HasSubstr("at most 255 vCPUs"));
    r.nr_vcpus = kAcpiMaxVcpus;
    EXPECT_LE(layout_pvh_domain(r).acpi.size(), kPvhAcpiMaxEnd - kPvhAcpiPaddr);
}

TEST(PvhLayout, InitramfsFollowsTheKernelAsTheOnlyModule) {
    PvhLayoutRequest r = request();
    r.initramfs_size = 3 * kMiB + 5;
    const PvhLayout l = layout_pvh_domain(r);
    EXPECT_EQ(l.initramfs_paddr, 0x1406000u);  // page-aligned after the kernel's bss
    EXPECT_EQ(l.initramfs_size, 3 * kMiB + 5);
    EXPECT_EQ(l.start_info.nr_modules, 1u);
    EXPECT_EQ(l.start_info.modlist_paddr, kPvhBootInfoPaddr + kPvhModlistOffset);
    ASSERT_EQ(l.modules.size(), 1u);
    const auto m = read<hvm_modlist_entry>(l.boot_info, kPvhModlistOffset);
    EXPECT_EQ(m.paddr, 0x1406000u);
    EXPECT_EQ(m.size, 3 * kMiB + 5);
    EXPECT_EQ(m.cmdline_paddr, 0u);
    EXPECT_EQ(m.reserved, 0u);
}

TEST(PvhLayout, InitramfsThatFillsTheRestOfRamFits) {
    PvhLayoutRequest r = request(64 * kMiB);
    r.initramfs_size = 64 * kMiB - 0x1406000;
    EXPECT_EQ(layout_pvh_domain(r).initramfs_paddr, 0x1406000u);
}

TEST(PvhLayout, InitramfsTooLargeIsRefused) {
    PvhLayoutRequest r = request(64 * kMiB);
    r.initramfs_name = "initrd.img";
    r.initramfs_size = 64 * kMiB - 0x1406000 + 1;
    EXPECT_EQ(layout_error(r),
              "initrd.img: initramfs of 44 MiB does not fit in the 64 MiB domain beside the "
              "kernel");
    r.initramfs_size = 100 * kMiB;
    EXPECT_EQ(layout_error(r),
              "initrd.img: initramfs of 100 MiB does not fit in the 64 MiB domain beside the "
              "kernel");
}

TEST(PvhLayout, EmptyInitramfsIsRefused) {
    PvhLayoutRequest r = request();
    r.initramfs_size = 0;
    EXPECT_EQ(layout_error(r), "initramfs: the initramfs is empty");
}

TEST(PvhLayout, EmptyCommandLineIsAbsent) {
    PvhLayoutRequest r = request();
    r.cmdline = "";
    EXPECT_EQ(layout_pvh_domain(r).start_info.cmdline_paddr, 0u);
}

TEST(PvhLayout, CommandLineAtTheLimitFitsAndOneMoreByteIsRefused) {
    const std::string longest(kPvhMaxCmdline, 'a');
    PvhLayoutRequest r = request();
    r.cmdline = longest;
    const PvhLayout l = layout_pvh_domain(r);
    EXPECT_EQ(l.boot_info[kPvhCmdlineOffset + kPvhMaxCmdline - 1], 'a');
    EXPECT_EQ(l.boot_info[kPvhCmdlineOffset + kPvhMaxCmdline], 0);  // NUL-terminated

    const std::string too_long(kPvhMaxCmdline + 1, 'a');
    r.cmdline = too_long;
    EXPECT_EQ(layout_error(r),
              "the kernel command line is 2048 bytes, longer than the 2047-byte limit of a PVH "
              "domain");
}

TEST(PvhLayout, CommandLineWithNulIsRefused) {
    PvhLayoutRequest r = request();
    r.cmdline = std::string_view("a\0b", 3);
    EXPECT_EQ(layout_error(r), "the kernel command line contains a NUL byte");
}

TEST(PvhLayout, SegmentOutsideRamIsRefused) {
    PvhLayoutRequest r = request(16 * kMiB);  // the kernel at 16 MiB no longer fits
    r.kernel_name = "vmlinux";
    EXPECT_EQ(layout_error(r),
              "vmlinux: segment [0x1000000, 0x1002000) lies outside the domain's kernel area "
              "[0x100000, 0x1000000) (16 MiB of RAM)");
}

TEST(PvhLayout, SegmentBelowOneMiBIsRefused) {
    const std::vector<LoadSegment> low = {{.paddr = 0x8000, .mem_size = 0x1000}};
    PvhLayoutRequest r = request();
    r.segments = low;
    r.entry = 0x8000;
    EXPECT_THAT(layout_error(r), HasSubstr("segment [0x8000, 0x9000) lies outside"));
}

TEST(PvhLayout, SegmentWrappingAroundIsRefused) {
    const std::vector<LoadSegment> wrap = {{.paddr = 0x200000, .mem_size = UINT64_MAX - 0x1000}};
    PvhLayoutRequest r = request();
    r.segments = wrap;
    r.entry = 0x200000;
    EXPECT_THAT(layout_error(r), HasSubstr("lies outside the domain's kernel area"));
}

TEST(PvhLayout, OverlappingSegmentsAreRefused) {
    const std::vector<LoadSegment> overlap = {{.paddr = 0x200000, .mem_size = 0x2000},
                                              {.paddr = 0x201000, .mem_size = 0x1000}};
    PvhLayoutRequest r = request();
    r.segments = overlap;
    r.entry = 0x200000;
    EXPECT_EQ(layout_error(r), "kernel: segments overlap at 0x201000 in physical memory");
}

TEST(PvhLayout, EntryOutsideTheSegmentsIsRefused) {
    PvhLayoutRequest r = request();
    r.entry = 0x1300000;
    EXPECT_EQ(layout_error(r),
              "kernel: PVH entry 0x1300000 does not lie inside any of its loaded segments");
}

TEST(PvhLayout, KernelWithoutLoadableBytesIsRefused) {
    const std::vector<LoadSegment> empty = {{.paddr = 0x200000, .mem_size = 0}};
    PvhLayoutRequest r = request();
    r.segments = empty;
    EXPECT_EQ(layout_error(r), "kernel: the kernel has no loadable bytes");
}

TEST(PvhLayout, TinyOrUnalignedMemoryIsRefused) {
    EXPECT_THAT(layout_error(request(kMiB)), HasSubstr("needs more than 1 MiB of RAM"));
    EXPECT_THAT(layout_error(request(64 * kMiB + 1)),
                HasSubstr("not a whole number of 4 KiB pages"));
}

TEST(PvhEntry, RegistersAreFlat32BitProtectedModeWithoutPaging) {
    const PvhLayout l = layout_pvh_domain(request());
    EXPECT_EQ(l.boot.mode, platform::BootContext::Mode::Pvh32);
    EXPECT_EQ(l.boot.regs.rip, kEntry);
    EXPECT_EQ(l.boot.regs.rbx, kPvhBootInfoPaddr);                             // the hvm_start_info
    EXPECT_EQ(l.boot.regs.rflags & ((1u << 9) | (1u << 8) | (1u << 17)), 0u);  // IF, TF, VM clear
    EXPECT_EQ(l.boot.regs.rflags, 0x2u);
    const platform::SegmentState& r = l.boot.segments;
    EXPECT_EQ(r.cr0, 0x11u);  // PE (and ET, hardwired); PG clear
    EXPECT_EQ(r.cr4, 0u);
    EXPECT_EQ(r.efer, 0u);

    EXPECT_EQ(r.cs.base, 0u);
    EXPECT_EQ(r.cs.limit, 0xffffffffu);
    EXPECT_EQ(r.cs.type, 0xb);  // execute/read
    EXPECT_TRUE(r.cs.present && r.cs.s && r.cs.db && r.cs.g);
    EXPECT_FALSE(r.cs.l);
    EXPECT_EQ(r.cs.dpl, 0);
    for (const platform::Segment* s : {&r.ds, &r.es, &r.ss}) {
        EXPECT_EQ(s->base, 0u);
        EXPECT_EQ(s->limit, 0xffffffffu);
        EXPECT_EQ(s->type, 0x3);  // read/write
        EXPECT_TRUE(s->present && s->s && s->db && s->g);
        EXPECT_EQ(s->dpl, 0);
    }
    EXPECT_EQ(r.tr.base, 0u);
    EXPECT_EQ(r.tr.limit, 0x67u);
    EXPECT_EQ(r.tr.type, 0xb);  // busy 32-bit TSS
    EXPECT_TRUE(r.tr.present);
    EXPECT_FALSE(r.tr.s);
    EXPECT_FALSE(r.ldt.present);
    EXPECT_EQ(r.idt.limit, 0u);  // no IDT: the kernel installs its own
}

}  // namespace
}  // namespace xenolith::boot
