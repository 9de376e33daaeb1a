// write_pvh_domain copies a PVH layout into guest RAM: the kernel's segments with their bss
// zeroed, the initramfs where the layout put it, the boot-info page, the ACPI tables and the
// zeroed console and xenstore pages. Tested against a std::vector standing in for guest
// memory.
#include "boot/pvh_builder.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "base/error.hpp"
#include "boot/pvh_image.hpp"
#include "tests/unit/boot/elf_builder.hpp"

namespace xenolith::boot {
namespace {

using testing::ElfBuilder;
using ::testing::HasSubstr;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kRam = 32 * kMiB;

PvhKernel kernel() {
    ElfBuilder b;
    b.entry = 0x200000;
    b.load(0x200000, std::vector<uint8_t>(0x1800, 0xcc), 0x3000, PF_R | PF_X | PF_W);
    b.load(0x400000, std::vector<uint8_t>(0x100, 0xdd));
    b.xen_u32(XEN_ELFNOTE_PHYS32_ENTRY, 0x200010);
    return PvhKernel::parse(b.build(), "vmlinux");
}

PvhLayout layout_for(const PvhKernel& k, std::optional<uint64_t> initramfs) {
    return layout_pvh_domain({.memory_bytes = kRam,
                              .segments = k.elf().segments(),
                              .entry = k.entry(),
                              .initramfs_size = initramfs,
                              .cmdline = "root=/dev/ram0"});
}

TEST(PvhBuilder, WritesSegmentsBssInitramfsAndBootInfo) {
    const PvhKernel k = kernel();
    const std::vector<uint8_t> initramfs(5000, 0x77);
    const PvhLayout layout = layout_for(k, initramfs.size());
    std::vector<uint8_t> ram(kRam, 0xee);  // dirty, so the bss must be zeroed explicitly

    write_pvh_domain(ram, layout, k.elf(), initramfs);

    EXPECT_TRUE(std::all_of(&ram[0x200000], &ram[0x201800], [](uint8_t b) { return b == 0xcc; }));
    EXPECT_TRUE(std::all_of(&ram[0x201800], &ram[0x203000], [](uint8_t b) { return b == 0; }));
    EXPECT_EQ(ram[0x203000], 0xee);  // nothing past the segment
    EXPECT_TRUE(std::all_of(&ram[0x400000], &ram[0x400100], [](uint8_t b) { return b == 0xdd; }));

    ASSERT_EQ(layout.initramfs_paddr, 0x401000u);
    EXPECT_TRUE(std::equal(initramfs.begin(), initramfs.end(), &ram[layout.initramfs_paddr]));

    EXPECT_TRUE(
        std::equal(layout.boot_info.begin(), layout.boot_info.end(), &ram[kPvhBootInfoPaddr]));
    hvm_start_info si;
    std::memcpy(&si, &ram[layout.boot.regs.rbx], sizeof si);
    EXPECT_EQ(si.magic, XEN_HVM_START_MAGIC_VALUE);
    hvm_modlist_entry module;
    std::memcpy(&module, &ram[si.modlist_paddr], sizeof module);
    EXPECT_EQ(module.paddr, layout.initramfs_paddr);
    EXPECT_EQ(module.size, initramfs.size());
    EXPECT_STREQ(reinterpret_cast<const char*>(&ram[si.cmdline_paddr]), "root=/dev/ram0");
    EXPECT_EQ(ram[0], 0xee);  // page 0 untouched
}

TEST(PvhBuilder, ZeroesTheRingAndGrantPagesAndWritesTheAcpiTables) {
    const PvhKernel k = kernel();
    const PvhLayout layout = layout_for(k, std::nullopt);
    std::vector<uint8_t> ram(kRam, 0xee);

    write_pvh_domain(ram, layout, k.elf(), {});

    auto zero = [](uint8_t b) { return b == 0; };
    EXPECT_TRUE(std::all_of(&ram[kPvhConsolePaddr], &ram[kPvhConsolePaddr + kPvhPageSize], zero));
    EXPECT_TRUE(std::all_of(&ram[kPvhStorePaddr], &ram[kPvhStorePaddr + kPvhPageSize], zero));
    EXPECT_TRUE(
        std::all_of(&ram[kPvhGrantSeedPaddr], &ram[kPvhGrantSeedPaddr + kPvhPageSize], zero));
    EXPECT_TRUE(std::equal(layout.acpi.begin(), layout.acpi.end(), &ram[layout.acpi_paddr]));
    // The rest of the tables' page is zero, and nothing beyond it is touched.
    EXPECT_TRUE(std::all_of(&ram[layout.acpi_paddr + layout.acpi.size()], &ram[0x6000], zero));
    EXPECT_EQ(ram[0x6000], 0xee);

    hvm_start_info si;
    std::memcpy(&si, &ram[layout.boot.regs.rbx], sizeof si);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&ram[si.rsdp_paddr]), 8), "RSD PTR ");
}

TEST(PvhBuilder, LayoutWithoutAcpiTablesIsRefusedBeforeWriting) {
    const PvhKernel k = kernel();
    PvhLayout layout = layout_for(k, std::nullopt);
    layout.acpi.clear();
    std::vector<uint8_t> ram(kRam, 0xee);
    EXPECT_THAT([&] { write_pvh_domain(ram, layout, k.elf(), {}); },
                ::testing::ThrowsMessage<Error>(HasSubstr("has no ACPI tables")));
    EXPECT_TRUE(std::all_of(ram.begin(), ram.end(), [](uint8_t b) { return b == 0xee; }));

    layout = layout_for(k, std::nullopt);
    layout.acpi.resize(kPvhAcpiMaxEnd - kPvhAcpiPaddr + 1);  // spills into RAM
    EXPECT_THAT([&] { write_pvh_domain(ram, layout, k.elf(), {}); },
                ::testing::ThrowsMessage<Error>(HasSubstr("has no ACPI tables in the space")));
}

TEST(PvhBuilder, RamSmallerThanTheLayoutIsRefusedBeforeWriting) {
    const PvhKernel k = kernel();
    const PvhLayout layout = layout_for(k, std::nullopt);
    std::vector<uint8_t> ram(16 * kMiB, 0xee);
    EXPECT_THAT([&] { write_pvh_domain(ram, layout, k.elf(), {}); },
                ::testing::ThrowsMessage<Error>(HasSubstr("is smaller than the layout's")));
    EXPECT_TRUE(std::all_of(ram.begin(), ram.end(), [](uint8_t b) { return b == 0xee; }));
}

TEST(PvhBuilder, InitramfsOfAnotherSizeIsRefused) {
    const PvhKernel k = kernel();
    const PvhLayout layout = layout_for(k, 100);
    std::vector<uint8_t> ram(kRam);
    const std::vector<uint8_t> initramfs(200);
    EXPECT_THAT([&] { write_pvh_domain(ram, layout, k.elf(), initramfs); },
                ::testing::ThrowsMessage<Error>(
                    HasSubstr("the initramfs is 200 bytes but the layout was made for 100")));
}

TEST(PvhBuilder, KernelOtherThanTheLayoutsIsRefused) {
    const PvhKernel k = kernel();
    PvhLayout layout = layout_for(k, std::nullopt);
    layout.kernel_end = 0x300000;  // as if made for a smaller kernel
    std::vector<uint8_t> ram(kRam);
    EXPECT_THAT([&] { write_pvh_domain(ram, layout, k.elf(), {}); },
                ::testing::ThrowsMessage<Error>(HasSubstr("vmlinux: a segment lies outside")));
}

}  // namespace
}  // namespace xenolith::boot
