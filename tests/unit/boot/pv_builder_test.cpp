// The PV builder lays a kernel out as docs/guest-abi.md says, and refuses what it cannot
// boot with a sentence naming the image and the problem. No KVM needed: GuestMemory only.
#include "boot/pv_builder.hpp"
#include "hv/hypercall_page.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "abi/xen.hpp"
#include "abi/xenolith.h"
#include "base/error.hpp"
#include "hv/guest_access.hpp"
#include "tests/unit/boot/elf_builder.hpp"

namespace xenolith::boot {
namespace {

using testing::ElfBuilder;
constexpr uint64_t kMiB = 1 << 20;

// A minimal PV kernel: code at 1 MiB, a hypercall page after it, BSS behind.
ElfBuilder pv_kernel() {
    ElfBuilder b;
    b.entry = 0x100000;
    b.load(0x100000, std::vector<uint8_t>(0x2000, 0x90), 0x4000, PF_R | PF_X | PF_W);
    b.xen_string(XEN_ELFNOTE_LOADER, "generic");
    b.xen_string(XEN_ELFNOTE_GUEST_OS, "test");
    b.xen_u64(XEN_ELFNOTE_HYPERCALL_PAGE, 0x101000);
    b.xen_u64(XEN_ELFNOTE_ENTRY, 0x100010);
    return b;
}

ElfImage parse(const ElfBuilder& b) { return ElfImage::parse(b.build(), "kernel.elf"); }

std::string load_error(const ElfBuilder& b, uint64_t memory = 16 * kMiB, std::string cmdline = "") {
    hv::GuestMemory mem("test", memory);
    try {
        load_pv_image(mem, parse(b), cmdline);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(PageTables, FrameCountCoversRamWithLargePages) {
    EXPECT_EQ(page_table_frames(16 * kMiB), 4u);        // PML4, PDPT, PD, PT for the first 2 MiB
    EXPECT_EQ(page_table_frames(3 * kMiB), 5u);         // and a PT for the partial last region
    EXPECT_EQ(page_table_frames(2048 * kMiB), 1u + 1 + 2 + 1);  // two PDs for 2 GiB
}

TEST(PageTables, MapRamAtVaEqualsPaExceptPageZero) {
    const uint64_t ram = 5 * kMiB;  // an odd number of 2 MiB regions: the tail uses 4 KiB pages
    hv::GuestMemory mem("pt", ram);
    const uint64_t base = 4 * kMiB;
    write_page_tables(mem.span(base, page_table_frames(ram) * hv::kPageSize), base, ram);
    hv::GuestAccess access(mem, base);
    EXPECT_FALSE(access.translate(0, false));                // null page unmapped
    EXPECT_FALSE(access.translate(0xfff, false));
    for (uint64_t va : {uint64_t{0x1000}, uint64_t{0x1ff000}, uint64_t{0x200000}, 2 * kMiB + 123,
                        4 * kMiB + 0x1000, ram - 1})
        EXPECT_EQ(access.translate(va, true), va) << std::hex << va;
    EXPECT_FALSE(access.translate(ram, false));              // nothing beyond RAM
    EXPECT_FALSE(access.translate(ram + 0x1000, false));
    EXPECT_FALSE(access.translate(uint64_t{1} << 47, false));  // upper half is not the guest's
}

TEST(HypercallPage, StubsLoadNumberAndExitThroughThePort) {
    std::vector<uint8_t> page(hv::kPageSize);
    hv::write_hypercall_page(page);
    for (uint32_t nr : {0u, uint32_t{__HYPERVISOR_sched_op}, 127u}) {
        const uint8_t* stub = page.data() + nr * XENOLITH_HYPERCALL_STUB_SIZE;
        uint32_t imm;
        std::memcpy(&imm, stub + 1, 4);
        EXPECT_EQ(stub[0], 0xb8);
        EXPECT_EQ(imm, nr);
        EXPECT_EQ(stub[5], 0xe7);
        EXPECT_EQ(stub[6], XENOLITH_HYPERCALL_PORT);
        EXPECT_EQ(stub[7], 0xc3);
        EXPECT_EQ(stub[8], 0xcc);  // padding traps
    }
}

TEST(IoTss, OpensExactlyTheHypercallAndNotifyPorts) {
    std::vector<uint8_t> page(hv::kPageSize);
    write_io_tss(page);
    uint16_t iomap;
    std::memcpy(&iomap, page.data() + 102, 2);
    ASSERT_EQ(iomap, 104);
    auto open = [&](unsigned port) { return !((page[iomap + port / 8] >> (port % 8)) & 1); };
    for (unsigned p = 0; p < 1024; ++p)
        EXPECT_EQ(open(p), (p >= XENOLITH_HYPERCALL_PORT && p < XENOLITH_HYPERCALL_PORT + 4) ||
                               (p >= XENOLITH_NOTIFY_PORT && p < XENOLITH_NOTIFY_PORT + 4))
            << p;
}

TEST(LoadPvImage, LaysOutImageBootStructuresAndEntryState) {
    hv::GuestMemory mem("load", 16 * kMiB);
    PvBootPlan plan = load_pv_image(mem, parse(pv_kernel()), "console=hvc0 sleep_ms=5");
    const PvLayout& l = plan.layout;
    EXPECT_EQ(l.image_start, 0x100000u);
    EXPECT_EQ(l.image_end, 0x104000u);
    EXPECT_EQ(l.start_info, l.image_end);
    EXPECT_EQ(l.shared_info, l.start_info + hv::kPageSize);
    EXPECT_EQ(l.io_tss, l.shared_info + hv::kPageSize);
    EXPECT_EQ(l.grant_frames, l.io_tss + hv::kPageSize);
    // The grant frames lie below the boot stack.
    EXPECT_LE(l.grant_frames + hv::kDefaultGrantFrames * hv::kPageSize,
              l.stack_top - XENOLITH_BOOT_STACK_SIZE);
    EXPECT_EQ(l.pt_base, l.stack_top);
    EXPECT_EQ(l.first_free, l.pt_base + l.nr_pt_frames * hv::kPageSize);

    auto si = mem.read<start_info_t>(l.start_info);
    ASSERT_TRUE(si);
    EXPECT_STREQ(si->magic, "xen-3.0-x86_64");
    EXPECT_EQ(si->nr_pages, 16 * kMiB / hv::kPageSize);
    EXPECT_EQ(si->shared_info, l.shared_info);
    EXPECT_EQ(si->pt_base, l.pt_base);
    EXPECT_EQ(si->nr_pt_frames, l.nr_pt_frames);
    EXPECT_EQ(si->mfn_list, 0u);
    EXPECT_STREQ(reinterpret_cast<const char*>(si->cmd_line), "console=hvc0 sleep_ms=5");

    EXPECT_EQ(plan.boot.regs.rip, 0x100010u);  // XEN_ELFNOTE_ENTRY wins over e_entry
    EXPECT_EQ(plan.boot.regs.rsi, l.start_info);
    EXPECT_EQ(plan.boot.regs.rsp, l.stack_top);
    EXPECT_EQ(plan.boot.regs.rsp % 16, 0u);
    EXPECT_EQ(plan.boot.cr3, l.pt_base);
    EXPECT_EQ(plan.boot.tss_base, l.io_tss);

    EXPECT_EQ(mem.base()[0x101000], 0xb8);  // the hypercall page is filled in
    EXPECT_EQ(mem.base()[0x100000], 0x90);  // file bytes copied
    EXPECT_EQ(mem.base()[0x103000], 0x00);  // BSS zeroed
    hv::GuestAccess access(mem, l.pt_base);
    EXPECT_EQ(access.translate(l.start_info, false), l.start_info);
}

TEST(LoadPvImage, RejectsImagesItCannotBoot) {
    ElfBuilder no_notes;
    no_notes.load(0x100000, std::vector<uint8_t>(16, 0x90));
    EXPECT_EQ(load_error(no_notes), "kernel.elf: no Xen ELF notes, so this is not a Xen PV kernel");

    ElfBuilder no_hcall = pv_kernel();
    no_hcall.notes.erase(no_hcall.notes.begin() + 2);
    EXPECT_NE(load_error(no_hcall).find("no XEN_ELFNOTE_HYPERCALL_PAGE"), std::string::npos);

    ElfBuilder wrong_loader = pv_kernel();
    wrong_loader.notes[0].desc = {'e', 'l', 'f', 0};
    EXPECT_EQ(load_error(wrong_loader), "kernel.elf: XEN_ELFNOTE_LOADER is 'elf', need 'generic'");

    ElfBuilder high = pv_kernel();
    high.xen_u64(XEN_ELFNOTE_VIRT_BASE, 0xffffffff80000000ull);
    EXPECT_NE(load_error(high).find("virt_base 0xffffffff80000000"), std::string::npos);

    ElfBuilder low = pv_kernel();
    low.segments[0].vaddr = low.segments[0].paddr = 0x1000;
    EXPECT_NE(load_error(low).find("lies outside guest RAM 0x100000-"), std::string::npos);

    EXPECT_NE(load_error(pv_kernel(), 1 * kMiB).find("lies outside guest RAM"), std::string::npos);
    EXPECT_NE(load_error(pv_kernel(), 0x108000).find("too small for this image"), std::string::npos);

    ElfBuilder entry_in_data = pv_kernel();
    entry_in_data.segments[0].flags = PF_R | PF_W;
    EXPECT_NE(load_error(entry_in_data).find("not in an executable segment"), std::string::npos);

    ElfBuilder misaligned = pv_kernel();
    misaligned.notes[2].desc = ElfBuilder::le_bytes(0x101010, 8);
    EXPECT_NE(load_error(misaligned).find("hypercall page 0x101010 is not a page-aligned page"),
              std::string::npos);

    EXPECT_EQ(load_error(pv_kernel(), 16 * kMiB, std::string(MAX_GUEST_CMDLINE, 'x')),
              "command line is 1024 bytes; Xen allows 1023");
}

}  // namespace
}  // namespace xenolith::boot
