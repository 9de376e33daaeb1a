#include "boot/elf_image.hpp"

#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <xen/elfnote.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "base/error.hpp"
#include "tests/unit/boot/elf_builder.hpp"

namespace xenolith::boot {
namespace {

using testing::ElfBuilder;

constexpr uint64_t kText = 0x100000;
constexpr uint64_t kData = 0x200000;

std::vector<uint8_t> filled(size_t size, uint8_t value) {
    return std::vector<uint8_t>(size, value);
}

// A kernel the way Pumice links one: text, then data with bss, and every Xen note kind.
ElfBuilder good_kernel() {
    ElfBuilder b;
    b.entry = kText + 0x10;
    // Added data-first, so the test also proves segments() is sorted by paddr.
    b.load(kData, filled(0x100, 0xdd), 0x3000, PF_R | PF_W);
    b.load(kText, filled(0x2000, 0xcc), 0x2000, PF_R | PF_X);
    b.xen_string(XEN_ELFNOTE_GUEST_OS, "Pumice")
        .xen_string(XEN_ELFNOTE_GUEST_VERSION, "0.1")
        .xen_string(XEN_ELFNOTE_XEN_VERSION, "xen-3.0")
        .xen_string(XEN_ELFNOTE_LOADER, "generic")
        .xen_string(XEN_ELFNOTE_FEATURES, "!writable_page_tables|auto_translated_physmap")
        .xen_u64(XEN_ELFNOTE_ENTRY, kText + 0x20)
        .xen_u64(XEN_ELFNOTE_HYPERCALL_PAGE, kText + 0x1000)
        .xen_u32(XEN_ELFNOTE_VIRT_BASE, 0)
        .xen_u64(XEN_ELFNOTE_PADDR_OFFSET, 0)
        .xen_u32(XEN_ELFNOTE_PHYS32_ENTRY, kText + 0x30)
        .xen_u64(XEN_ELFNOTE_HV_START_LOW, 0xffff800000000000)
        .xen_u64(XEN_ELFNOTE_INIT_P2M, 0xffffea0000000000);
    b.symbol("_start", kText + 0x10, 0x10)
        .symbol("hypercall_page", kText + 0x1000, 0x1000)
        .symbol("asm_label", kText + 0x100, 0)  // an assembly label: FUNC without a size
        .symbol("outer", kText + 0x200, 0x100)
        .symbol("inner", kText + 0x240, 0x20)  // nested inside outer
        .symbol("counter", kData + 0x10, 8, STT_OBJECT)
        .symbol("a_section", kText, 0x2000, STT_SECTION)
        .symbol("untyped", kText + 0x400, 0x10, STT_NOTYPE)
        .symbol("imported", kText + 0x500, 0x10, STT_FUNC, SHN_UNDEF);
    return b;
}

ElfImage parse(std::vector<uint8_t> bytes) {
    return ElfImage::parse(std::move(bytes), "kernel");
}

// The message parse() throws, or "parsed" when it accepts the image.
std::string parse_error(std::vector<uint8_t> bytes) {
    try {
        parse(std::move(bytes));
    } catch (const Error& e) {
        return e.what();
    }
    return "parsed";
}

template <class T>
void poke(std::vector<uint8_t>& bytes, uint64_t offset, T value) {
    ElfBuilder::poke(bytes, offset, value);
}
uint64_t phdr_field(unsigned index, size_t field_offset) {
    return ElfBuilder::phdr_offset(index) + field_offset;
}
#define PHDR(index, field) phdr_field(index, offsetof(Elf64_Phdr, field))
#define EHDR(field) offsetof(Elf64_Ehdr, field)

// ---- a good image ----

TEST(ElfImage, ParsesEntryAndSegmentsSortedByPaddr) {
    const auto image = parse(good_kernel().build());
    EXPECT_EQ(image.name(), "kernel");
    EXPECT_EQ(image.elf_entry(), kText + 0x10);
    ASSERT_EQ(image.segments().size(), 2u);
    const LoadSegment& text = image.segments()[0];
    const LoadSegment& data = image.segments()[1];
    EXPECT_EQ(text.paddr, kText);
    EXPECT_EQ(text.vaddr, kText);
    EXPECT_EQ(text.file_size, 0x2000u);
    EXPECT_EQ(text.mem_size, 0x2000u);
    EXPECT_EQ(text.flags, uint32_t{PF_R | PF_X});
    EXPECT_EQ(data.paddr, kData);
    EXPECT_EQ(data.file_size, 0x100u);
    EXPECT_EQ(data.mem_size, 0x3000u);
    EXPECT_EQ(data.flags, uint32_t{PF_R | PF_W});
}

TEST(ElfImage, SegmentBytesAreTheSegmentsFileBytes) {
    const auto image = parse(good_kernel().build());
    const auto text = image.segment_bytes(image.segments()[0]);
    const auto data = image.segment_bytes(image.segments()[1]);
    ASSERT_EQ(text.size(), 0x2000u);
    ASSERT_EQ(data.size(), 0x100u);
    EXPECT_TRUE(std::all_of(text.begin(), text.end(), [](uint8_t b) { return b == 0xcc; }));
    EXPECT_TRUE(std::all_of(data.begin(), data.end(), [](uint8_t b) { return b == 0xdd; }));
    EXPECT_EQ(text.data(), image.bytes().data() + image.segments()[0].file_offset);
}

TEST(ElfImage, SegmentBytesRejectsASegmentFromElsewhere) {
    const auto image = parse(good_kernel().build());
    LoadSegment bogus = image.segments()[0];
    bogus.file_offset = UINT64_MAX;
    EXPECT_THROW(image.segment_bytes(bogus), Error);
}

TEST(ElfImage, ReadsEveryXenNoteKind) {
    const XenNotes notes = parse(good_kernel().build()).xen_notes();
    EXPECT_TRUE(notes.has_any);
    EXPECT_EQ(notes.entry, kText + 0x20);
    EXPECT_EQ(notes.hypercall_page, kText + 0x1000);
    EXPECT_EQ(notes.virt_base, 0u);
    EXPECT_EQ(notes.paddr_offset, 0u);
    EXPECT_EQ(notes.phys32_entry, kText + 0x30);
    EXPECT_EQ(notes.hv_start_low, 0xffff800000000000u);
    EXPECT_EQ(notes.init_p2m, 0xffffea0000000000u);
    EXPECT_EQ(notes.guest_os, "Pumice");
    EXPECT_EQ(notes.guest_version, "0.1");
    EXPECT_EQ(notes.xen_version, "xen-3.0");
    EXPECT_EQ(notes.loader, "generic");
    EXPECT_EQ(notes.features, "!writable_page_tables|auto_translated_physmap");
}

TEST(ElfImage, AbsentNotesStayEmpty) {
    ElfBuilder b;
    b.load(kText, filled(16, 0x90));
    const XenNotes notes = parse(b.build()).xen_notes();
    EXPECT_FALSE(notes.has_any);
    EXPECT_FALSE(notes.entry);
    EXPECT_FALSE(notes.hypercall_page);
    EXPECT_EQ(notes.loader, "");
}

TEST(ElfImage, NotesOfOtherOwnersAndUnknownXenTypesAreIgnored) {
    ElfBuilder b;
    b.load(kText, filled(16, 0x90));
    b.note("GNU", NT_GNU_BUILD_ID, filled(3, 0xab));      // odd size: not ours to judge
    b.note("Xenolith", XEN_ELFNOTE_ENTRY, filled(3, 0));  // owner merely starts with Xen
    EXPECT_FALSE(parse(b.build()).xen_notes().has_any);

    b.xen_note(0x1234, filled(3, 0xff));                // unknown Xen type, odd size
    b.xen_note(XEN_ELFNOTE_PAE_MODE, filled(2, 0xff));  // known, but not read here
    const XenNotes notes = parse(b.build()).xen_notes();
    EXPECT_TRUE(notes.has_any);
    EXPECT_FALSE(notes.entry);
}

TEST(ElfImage, NumericNotesAreFourOrEightBytesLittleEndian) {
    ElfBuilder b;
    b.load(kText, filled(16, 0x90));
    b.xen_u32(XEN_ELFNOTE_ENTRY, 0x12345678)
        .xen_u64(XEN_ELFNOTE_HYPERCALL_PAGE, 0x1122334455667788);
    const XenNotes notes = parse(b.build()).xen_notes();
    EXPECT_EQ(notes.entry, 0x12345678u);
    EXPECT_EQ(notes.hypercall_page, 0x1122334455667788u);
}

TEST(ElfImage, StringNoteEndsAtItsFirstNul) {
    ElfBuilder b;
    b.load(kText, filled(16, 0x90));
    b.xen_note(XEN_ELFNOTE_LOADER, {'g', 'e', 'n', 'e', 'r', 'i', 'c', 0, 0, 0, 0});
    b.xen_note(XEN_ELFNOTE_GUEST_OS, {0});
    const XenNotes notes = parse(b.build()).xen_notes();
    EXPECT_EQ(notes.loader, "generic");
    EXPECT_EQ(notes.guest_os, "");
}

TEST(ElfImage, ReadsNotesFromSectionsWhenThereIsNoNoteSegment) {
    ElfBuilder b = good_kernel();
    b.note_segment = false;
    const auto image = parse(b.build());
    EXPECT_EQ(image.xen_notes().loader, "generic");
    EXPECT_EQ(image.xen_notes().hypercall_page, kText + 0x1000);
}

TEST(ElfImage, ReadsEightByteAlignedNotes) {
    ElfBuilder b = good_kernel();
    b.note_align = 8;
    const auto notes = parse(b.build()).xen_notes();
    EXPECT_EQ(notes.guest_os, "Pumice");
    EXPECT_EQ(notes.phys32_entry, kText + 0x30);
    EXPECT_EQ(notes.features, "!writable_page_tables|auto_translated_physmap");
}

TEST(ElfImage, AcceptsAMissingPadAfterTheLastNote) {
    ElfBuilder b;
    b.load(kText, filled(16, 0x90));
    b.xen_note(XEN_ELFNOTE_LOADER, {'g', 'e', 'n', 0, 0, 0});  // 6 bytes, padded to 8
    auto bytes = b.build();
    poke<uint64_t>(bytes, PHDR(1, p_filesz), 12 + 4 + 6);
    EXPECT_EQ(parse(bytes).xen_notes().loader, "gen");
}

TEST(ElfImage, ParsesWithoutSectionHeaders) {
    ElfBuilder b = good_kernel();
    b.section_headers = false;
    const auto image = parse(b.build());
    EXPECT_EQ(image.xen_notes().loader, "generic");
    EXPECT_FALSE(image.symbolize(kText + 0x10));
}

TEST(ElfImage, EmptyLoadSegmentsDoNotOverlapAnything) {
    ElfBuilder b;
    b.load(kText, filled(0x100, 0x90));
    b.load(kText + 0x10, {}, 0);
    EXPECT_EQ(parse(b.build()).segments().size(), 2u);
}

// ---- symbols ----

TEST(ElfImage, SymbolizesAnExactAddress) {
    const auto sym = parse(good_kernel().build()).symbolize(kText + 0x10);
    ASSERT_TRUE(sym);
    EXPECT_EQ(sym->name, "_start");
    EXPECT_EQ(sym->address, kText + 0x10);
    EXPECT_EQ(sym->size, 0x10u);
    EXPECT_EQ(sym->offset, 0u);
}

TEST(ElfImage, SymbolizesAnAddressInsideAFunction) {
    const auto sym = parse(good_kernel().build()).symbolize(kText + 0x1abc);
    ASSERT_TRUE(sym);
    EXPECT_EQ(sym->name, "hypercall_page");
    EXPECT_EQ(sym->offset, 0xabcu);
}

TEST(ElfImage, SymbolizesAnObject) {
    const auto sym = parse(good_kernel().build()).symbolize(kData + 0x14);
    ASSERT_TRUE(sym);
    EXPECT_EQ(sym->name, "counter");
    EXPECT_EQ(sym->offset, 4u);
}

TEST(ElfImage, PrefersTheInnermostContainingSymbol) {
    const auto image = parse(good_kernel().build());
    EXPECT_EQ(image.symbolize(kText + 0x244)->name, "inner");
    const auto after_inner = image.symbolize(kText + 0x270);
    ASSERT_TRUE(after_inner);
    EXPECT_EQ(after_inner->name, "outer");
    EXPECT_EQ(after_inner->offset, 0x70u);
}

TEST(ElfImage, FallsBackOnTheNearestPrecedingFunction) {
    const auto image = parse(good_kernel().build());
    const auto sym = image.symbolize(kText + 0x150);  // after asm_label, which has no size
    ASSERT_TRUE(sym);
    EXPECT_EQ(sym->name, "asm_label");
    EXPECT_EQ(sym->offset, 0x50u);
    // NOTYPE, SECTION and undefined symbols are not candidates: inner starts nearest below.
    EXPECT_EQ(image.symbolize(kText + 0x404)->name, "inner");
    EXPECT_EQ(image.symbolize(kText + 0x504)->name, "inner");
}

TEST(ElfImage, SymbolizesNothingOutsideTheSymbols) {
    const auto image = parse(good_kernel().build());
    EXPECT_FALSE(image.symbolize(0));
    EXPECT_FALSE(image.symbolize(kText + 0xf));     // below the first FUNC
    EXPECT_FALSE(image.symbolize(kText + 0x2000));  // past the text segment
    EXPECT_FALSE(image.symbolize(kData + 0x20));    // data, past the only object
    EXPECT_FALSE(image.symbolize(UINT64_MAX));
}

TEST(ElfImage, SymbolizesNothingWithoutASymbolTable) {
    ElfBuilder b;
    b.load(kText, filled(16, 0x90));
    EXPECT_FALSE(parse(b.build()).symbolize(kText));
}

// ---- loading files ----

class TempFile {
  public:
    explicit TempFile(const std::vector<uint8_t>& bytes) {
        char templ[] = "/tmp/elf_image_test.XXXXXX";
        const int fd = ::mkstemp(templ);
        EXPECT_GE(fd, 0);
        path_ = templ;
        EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
        ::close(fd);
    }
    ~TempFile() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

TEST(ElfImage, LoadsAFileAndNamesItByPath) {
    const auto bytes = good_kernel().build();
    TempFile file(bytes);
    const auto image = ElfImage::load(file.path());
    EXPECT_EQ(image.name(), file.path());
    EXPECT_EQ(image.bytes().size(), bytes.size());
    EXPECT_EQ(image.xen_notes().loader, "generic");
}

TEST(ElfImage, LoadErrorsNameThePath) {
    TempFile file({'n', 'o', 'p', 'e'});
    try {
        ElfImage::load(file.path());
        FAIL() << "parsed a non-ELF file";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), file.path() + ": not an ELF file (bad magic)");
    }
}

TEST(ElfImage, MissingFileIsAnErrorNamingThePath) {
    const std::string path = "/nonexistent/xenolith/kernel.elf";
    try {
        ElfImage::load(path);
        FAIL() << "loaded a missing file";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  path + ": cannot open the kernel image: No such file or directory");
    }
}

TEST(ElfImage, DirectoryIsNotAKernelImage) {
    EXPECT_EQ(
        [] {
            try {
                ElfImage::load("/tmp");
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string("parsed");
        }(),
        "/tmp: the kernel image is not a regular file");
}

// The real Pumice guest, when someone has built it.
TEST(ElfImage, LoadsTheRealPumiceHelloGuest) {
    const std::string path = "/work/main/build/guest/apps/hello";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " has not been built";
    const auto image = ElfImage::load(path);
    EXPECT_FALSE(image.segments().empty());
    const XenNotes& notes = image.xen_notes();
    EXPECT_TRUE(notes.has_any);
    EXPECT_EQ(notes.loader, "generic");
    ASSERT_TRUE(notes.hypercall_page);
    const uint64_t entry = notes.entry.value_or(image.elf_entry());
    bool entry_in_text = false;
    for (const auto& s : image.segments()) {
        EXPECT_GE(s.paddr, 0x100000u);
        if ((s.flags & PF_X) && entry - s.vaddr < s.mem_size) entry_in_text = true;
    }
    EXPECT_TRUE(entry_in_text);
    EXPECT_EQ(*notes.hypercall_page % 4096, 0u);
}

// ---- rejections: header ----

TEST(ElfImageRejects, BadMagic) {
    EXPECT_EQ(parse_error({}), "kernel: not an ELF file (bad magic)");
    EXPECT_EQ(parse_error({0x7f, 'E', 'L'}), "kernel: not an ELF file (bad magic)");
    EXPECT_EQ(parse_error({'M', 'Z', 0x90, 0, 3, 0, 0, 0}), "kernel: not an ELF file (bad magic)");
}

TEST(ElfImageRejects, TruncatedHeader) {
    auto bytes = good_kernel().build();
    bytes.resize(40);
    EXPECT_EQ(parse_error(bytes),
              "kernel: file is truncated: its 40 bytes cannot hold the 64-byte ELF header");
}

TEST(ElfImageRejects, Elf32) {
    ElfBuilder b = good_kernel();
    b.elf_class = ELFCLASS32;
    EXPECT_EQ(parse_error(b.build()), "kernel: ELF class 32 is not supported, need ELF64");
    b.elf_class = 7;
    EXPECT_EQ(parse_error(b.build()), "kernel: ELF class byte 7 is invalid, need ELF64");
}

TEST(ElfImageRejects, BigEndian) {
    ElfBuilder b = good_kernel();
    b.data_encoding = ELFDATA2MSB;
    EXPECT_EQ(parse_error(b.build()), "kernel: big-endian ELF is not supported");
}

TEST(ElfImageRejects, BadVersion) {
    auto bytes = good_kernel().build();
    poke<Elf64_Word>(bytes, EHDR(e_version), 2);
    EXPECT_EQ(parse_error(bytes), "kernel: ELF version 2 is not supported, need 1");
}

TEST(ElfImageRejects, OtherMachines) {
    ElfBuilder b = good_kernel();
    b.machine = EM_ARM;
    EXPECT_EQ(parse_error(b.build()), "kernel: machine 40 (ARM) is not x86-64");
    b.machine = EM_386;
    EXPECT_EQ(parse_error(b.build()), "kernel: machine 3 (i386) is not x86-64");
    b.machine = 0x4242;
    EXPECT_EQ(parse_error(b.build()), "kernel: machine 16962 is not x86-64");
}

TEST(ElfImageRejects, NonExecutableTypes) {
    ElfBuilder b = good_kernel();
    b.type = ET_DYN;
    EXPECT_EQ(parse_error(b.build()), "kernel: type ET_DYN is not supported, need ET_EXEC");
    b.type = ET_REL;
    EXPECT_EQ(parse_error(b.build()), "kernel: type ET_REL is not supported, need ET_EXEC");
    b.type = 0xfe00;
    EXPECT_EQ(parse_error(b.build()), "kernel: type 0xfe00 is not supported, need ET_EXEC");
}

TEST(ElfImageRejects, WrongProgramHeaderSize) {
    auto bytes = good_kernel().build();
    poke<Elf64_Half>(bytes, EHDR(e_phentsize), 32);
    EXPECT_EQ(parse_error(bytes), "kernel: program header size is 32 bytes, need 56");
}

// ---- rejections: program headers and segments ----

TEST(ElfImageRejects, NoProgramHeaders) {
    ElfBuilder b;
    EXPECT_EQ(parse_error(b.build()), "kernel: no loadable segments");
}

TEST(ElfImageRejects, OnlyANoteSegment) {
    ElfBuilder b;
    b.xen_string(XEN_ELFNOTE_LOADER, "generic");
    EXPECT_EQ(parse_error(b.build()), "kernel: no loadable segments");
}

// Segments without file bytes: the file ends with the program headers.
std::vector<uint8_t> bss_only_kernel() {
    ElfBuilder b;
    b.section_headers = false;
    b.load(kText, {}, 0x1000).load(kText + 0x1000, {}, 0x1000).load(kText + 0x2000, {}, 0x1000);
    return b.build();
}

TEST(ElfImageRejects, ProgramHeaderPastTheEnd) {
    auto bytes = bss_only_kernel();
    ASSERT_EQ(bytes.size(), ElfBuilder::phdr_offset(3));
    EXPECT_EQ(parse_error(bytes), "parsed");
    bytes.pop_back();
    EXPECT_EQ(parse_error(bytes), "kernel: program header 2 lies outside the file");
}

TEST(ElfImage, IgnoresTheFileOffsetOfASegmentWithoutFileBytes) {
    auto bytes = bss_only_kernel();
    poke<Elf64_Off>(bytes, PHDR(1, p_offset), UINT64_MAX);
    const auto image = parse(bytes);
    ASSERT_EQ(image.segments().size(), 3u);
    EXPECT_TRUE(image.segment_bytes(image.segments()[1]).empty());
}

TEST(ElfImageRejects, HugeProgramHeaderCount) {
    auto bytes = bss_only_kernel();
    poke<Elf64_Half>(bytes, EHDR(e_phnum), 0xfffe);
    EXPECT_EQ(parse_error(bytes), "kernel: program header 3 lies outside the file");
    poke<Elf64_Half>(bytes, EHDR(e_phnum), PN_XNUM);
    EXPECT_EQ(parse_error(bytes),
              "kernel: extended program header numbering (e_phnum = PN_XNUM) is not supported");
    // In a full image the extra headers are read from segment bytes, and rejected.
    bytes = good_kernel().build();
    poke<Elf64_Half>(bytes, EHDR(e_phnum), 0xfffe);
    EXPECT_NE(parse_error(bytes), "parsed");
}

TEST(ElfImageRejects, ProgramHeaderOffsetWraps) {
    auto bytes = good_kernel().build();
    poke<Elf64_Off>(bytes, EHDR(e_phoff), UINT64_MAX - 8);
    EXPECT_EQ(parse_error(bytes), "kernel: program header 0 lies outside the file");
    poke<Elf64_Off>(bytes, EHDR(e_phoff), bytes.size());
    EXPECT_EQ(parse_error(bytes), "kernel: program header 0 lies outside the file");
}

TEST(ElfImageRejects, FileSizeLargerThanMemorySize) {
    auto bytes = good_kernel().build();
    poke<Elf64_Xword>(bytes, PHDR(1, p_memsz), 0x1000);
    EXPECT_EQ(parse_error(bytes), "kernel: segment 1 file size exceeds its memory size");
}

TEST(ElfImageRejects, SegmentPastTheEndOfTheFile) {
    auto bytes = good_kernel().build();
    const std::string size = std::to_string(bytes.size());
    poke<Elf64_Off>(bytes, PHDR(1, p_offset), bytes.size() - 0x1000);
    char offset[32];
    std::snprintf(offset, sizeof offset, "0x%zx", bytes.size() - 0x1000);
    EXPECT_EQ(parse_error(bytes), "kernel: segment 1 (0x2000 bytes at file offset " +
                                      std::string(offset) + ") lies outside the " + size +
                                      "-byte file");
}

TEST(ElfImageRejects, SegmentFileRangeThatWraps) {
    auto bytes = good_kernel().build();
    poke<Elf64_Off>(bytes, PHDR(1, p_offset), UINT64_MAX - 0x10);
    EXPECT_NE(parse_error(bytes).find("kernel: segment 1 (0x2000 bytes at file offset "
                                      "0xffffffffffffffef) lies outside"),
              std::string::npos);
}

TEST(ElfImageRejects, PhysicalAddressOverflow) {
    auto bytes = good_kernel().build();
    poke<Elf64_Addr>(bytes, PHDR(0, p_paddr), UINT64_MAX - 0x1000);
    EXPECT_EQ(parse_error(bytes),
              "kernel: segment 0 physical address 0xffffffffffffefff + size 0x3000 overflows "
              "64 bits");
}

TEST(ElfImageRejects, VirtualAddressOverflow) {
    auto bytes = good_kernel().build();
    poke<Elf64_Addr>(bytes, PHDR(1, p_vaddr), 0xfffffffffffff000);
    EXPECT_EQ(parse_error(bytes),
              "kernel: segment 1 virtual address 0xfffffffffffff000 + size 0x2000 overflows "
              "64 bits");
}

TEST(ElfImageRejects, OverlappingSegments) {
    ElfBuilder b;
    b.load(kText, filled(0x10, 0), 0x2000).load(kText + 0x1000, filled(0x10, 0), 0x1000);
    EXPECT_EQ(parse_error(b.build()),
              "kernel: segments 0 and 1 overlap in virtual memory ([0x100000, 0x102000) and "
              "[0x101000, 0x102000))");
}

TEST(ElfImageRejects, PhysicallyOverlappingSegments) {
    ElfBuilder b;
    b.load(kText, filled(0x10, 0), 0x1000).load(kData, filled(0x10, 0), 0x1000);
    b.segments[1].paddr = kText + 0x800;               // distinct virtual, shared physical
    b.load(kText + 0x10000, filled(0x10, 0), 0x1000);  // a third, apart from both
    EXPECT_EQ(parse_error(b.build()),
              "kernel: segments 0 and 1 overlap in physical memory ([0x100000, 0x101000) and "
              "[0x100800, 0x101800))");
}

TEST(ElfImageRejects, SegmentInsideAnEarlierLargerOne) {
    ElfBuilder b;
    b.load(kText, filled(0x10, 0), 0x10000)
        .load(kText + 0x1000, filled(0x10, 0), 0x1000)
        .load(kText + 0x8000, filled(0x10, 0), 0x1000);
    b.segments[1].vaddr = kData;  // only 0 and 2 overlap virtually
    b.segments[1].paddr = kData;
    EXPECT_EQ(parse_error(b.build()),
              "kernel: segments 0 and 2 overlap in virtual memory ([0x100000, 0x110000) and "
              "[0x108000, 0x109000))");
}

TEST(ElfImageRejects, NoteSegmentPastTheEnd) {
    auto bytes = good_kernel().build();
    poke<Elf64_Xword>(bytes, PHDR(2, p_filesz), UINT64_MAX);
    EXPECT_EQ(parse_error(bytes), "kernel: note segment 2 lies outside the file");
}

// ---- rejections: notes ----

std::vector<uint8_t> kernel_with_note(uint32_t type, std::vector<uint8_t> desc) {
    ElfBuilder b;
    b.load(kText, filled(16, 0x90));
    b.xen_string(XEN_ELFNOTE_LOADER, "generic");
    b.xen_note(type, std::move(desc));
    return b.build();
}

TEST(ElfImageRejects, NumericNoteOfTheWrongSize) {
    EXPECT_EQ(parse_error(kernel_with_note(XEN_ELFNOTE_HYPERCALL_PAGE, {1, 2, 3})),
              "kernel: Xen note 2 (HYPERCALL_PAGE) has size 3, need 4 or 8");
    EXPECT_EQ(parse_error(kernel_with_note(XEN_ELFNOTE_ENTRY, {})),
              "kernel: Xen note 1 (ENTRY) has size 0, need 4 or 8");
    EXPECT_EQ(parse_error(kernel_with_note(XEN_ELFNOTE_PHYS32_ENTRY, filled(16, 1))),
              "kernel: Xen note 18 (PHYS32_ENTRY) has size 16, need 4 or 8");
}

TEST(ElfImageRejects, UnterminatedStringNote) {
    EXPECT_EQ(parse_error(kernel_with_note(XEN_ELFNOTE_GUEST_OS, {'P', 'u', 'm', 'i'})),
              "kernel: Xen note 6 (GUEST_OS) is not NUL-terminated");
    EXPECT_EQ(parse_error(kernel_with_note(XEN_ELFNOTE_FEATURES, {})),
              "kernel: Xen note 10 (FEATURES) is not NUL-terminated");
}

TEST(ElfImageRejects, OverlongStringNote) {
    auto desc = filled(2000, 'a');
    desc.back() = 0;
    EXPECT_EQ(parse_error(kernel_with_note(XEN_ELFNOTE_GUEST_VERSION, desc)),
              "kernel: Xen note 7 (GUEST_VERSION) is 2000 bytes, longer than the 1024-byte "
              "limit");
    desc.resize(ElfImage::kMaxStringNoteSize);
    desc.back() = 0;
    EXPECT_EQ(parse_error(kernel_with_note(XEN_ELFNOTE_GUEST_VERSION, desc)), "parsed");
}

TEST(ElfImageRejects, NonPrintableStringNote) {
    EXPECT_EQ(parse_error(kernel_with_note(XEN_ELFNOTE_GUEST_OS, {'a', 0x1b, '[', 0})),
              "kernel: Xen note 6 (GUEST_OS) contains the non-printable byte 0x1b");
}

TEST(ElfImageRejects, DuplicateNote) {
    EXPECT_EQ(parse_error(kernel_with_note(XEN_ELFNOTE_LOADER, {'x', 0})),
              "kernel: Xen note 8 (LOADER) appears more than once");
}

TEST(ElfImageRejects, TruncatedNoteHeader) {
    auto bytes = kernel_with_note(XEN_ELFNOTE_ENTRY, ElfBuilder::le_bytes(kText, 8));
    // The first note ("generic" loader) takes 12 + 4 + 8 bytes; leave 2 bytes of the next.
    poke<Elf64_Xword>(bytes, PHDR(1, p_filesz), 24 + 2);
    EXPECT_EQ(parse_error(bytes), "kernel: note 1 in note segment 1 has a truncated header");
    poke<Elf64_Xword>(bytes, PHDR(1, p_filesz), 11);
    EXPECT_EQ(parse_error(bytes), "kernel: note 0 in note segment 1 has a truncated header");
}

TEST(ElfImageRejects, NoteNameOrDescriptorPastItsEnd) {
    auto bytes = kernel_with_note(XEN_ELFNOTE_ENTRY, ElfBuilder::le_bytes(kText, 8));
    const uint64_t notes_at = ElfBuilder::peek<Elf64_Phdr>(bytes, PHDR(1, p_type)).p_offset;
    auto hostile = bytes;
    poke<Elf64_Word>(hostile, notes_at + offsetof(Elf64_Nhdr, n_namesz), 0xffffffff);
    EXPECT_EQ(parse_error(hostile), "kernel: note 0 in note segment 1 name runs past its end");
    hostile = bytes;
    poke<Elf64_Word>(hostile, notes_at + offsetof(Elf64_Nhdr, n_descsz), 0xfffffffd);
    EXPECT_EQ(parse_error(hostile),
              "kernel: note 0 in note segment 1 descriptor runs past its end");
    hostile = bytes;
    // One byte too many: the next note is read from the wrong place and runs past the end.
    poke<Elf64_Word>(hostile, notes_at + offsetof(Elf64_Nhdr, n_descsz), 9);
    EXPECT_EQ(parse_error(hostile),
              "kernel: note 1 in note segment 1 descriptor runs past its end");
}

TEST(ElfImageRejects, HostileNotesInSections) {
    ElfBuilder b = good_kernel();
    b.note_segment = false;
    auto bytes = b.build();
    const uint64_t size_at =
        ElfBuilder::shdr_offset(bytes, b.note_section()) + offsetof(Elf64_Shdr, sh_size);
    poke<Elf64_Xword>(bytes, size_at, UINT64_MAX);
    EXPECT_EQ(parse_error(bytes), "kernel: note section 1 lies outside the file");
    poke<Elf64_Xword>(bytes, size_at, 5);
    EXPECT_EQ(parse_error(bytes), "kernel: note 0 in note section 1 has a truncated header");
}

// ---- rejections: sections and symbols ----

TEST(ElfImageRejects, SectionHeaderTableOutsideTheFile) {
    auto bytes = good_kernel().build();
    poke<Elf64_Off>(bytes, EHDR(e_shoff), UINT64_MAX - 63);
    EXPECT_EQ(parse_error(bytes).find("kernel: section header table ("), 0u);
    bytes = good_kernel().build();
    poke<Elf64_Half>(bytes, EHDR(e_shnum), 0xffff);
    EXPECT_EQ(parse_error(bytes).find("kernel: section header table (65535 entries"), 0u);
}

TEST(ElfImageRejects, HugeExtendedSectionCount) {
    auto bytes = good_kernel().build();
    const uint64_t count_at = ElfBuilder::shdr_offset(bytes, 0) + offsetof(Elf64_Shdr, sh_size);
    poke<Elf64_Half>(bytes, EHDR(e_shnum), 0);
    poke<Elf64_Xword>(bytes, count_at, UINT64_MAX / 2);
    EXPECT_EQ(parse_error(bytes).find("kernel: section header table (9223372036854775807 "), 0u);
    poke<Elf64_Xword>(bytes, count_at, 0);  // extended numbering saying "no sections"
    EXPECT_FALSE(parse(bytes).symbolize(kText + 0x10));
}

TEST(ElfImageRejects, WrongSectionHeaderSize) {
    auto bytes = good_kernel().build();
    poke<Elf64_Half>(bytes, EHDR(e_shentsize), 40);
    EXPECT_EQ(parse_error(bytes), "kernel: section header size is 40 bytes, need 64");
}

TEST(ElfImageRejects, MalformedSymbolTable) {
    const ElfBuilder b = good_kernel();
    const auto good = b.build();
    const unsigned symtab = b.symtab_section();
    const unsigned strtab = b.strtab_section();
    auto field = [&](unsigned section, size_t offset) {
        return ElfBuilder::shdr_offset(good, section) + offset;
    };
    const std::string table = "kernel: symbol table (section " + std::to_string(symtab) + ")";
    const std::string strings = "kernel: string table (section " + std::to_string(strtab) + ")";

    auto bytes = good;
    poke<Elf64_Xword>(bytes, field(symtab, offsetof(Elf64_Shdr, sh_entsize)), 16);
    EXPECT_EQ(parse_error(bytes), table + " has entry size 16, need 24");

    bytes = good;
    poke<Elf64_Off>(bytes, field(symtab, offsetof(Elf64_Shdr, sh_offset)), UINT64_MAX - 8);
    EXPECT_EQ(parse_error(bytes), table + " lies outside the file");

    bytes = good;
    poke<Elf64_Xword>(bytes, field(symtab, offsetof(Elf64_Shdr, sh_size)), 25);
    EXPECT_EQ(parse_error(bytes), table + " size 25 is not a multiple of 24");

    bytes = good;
    poke<Elf64_Word>(bytes, field(symtab, offsetof(Elf64_Shdr, sh_link)), 999);
    EXPECT_EQ(parse_error(bytes), table + " links to section 999, which does not exist");

    bytes = good;
    poke<Elf64_Word>(bytes, field(symtab, offsetof(Elf64_Shdr, sh_link)), symtab);
    EXPECT_EQ(parse_error(bytes), table + " links to a section that is not a string table");

    bytes = good;
    poke<Elf64_Xword>(bytes, field(strtab, offsetof(Elf64_Shdr, sh_size)), UINT64_MAX);
    EXPECT_EQ(parse_error(bytes), strings + " lies outside the file");

    bytes = good;  // drop the table's final NUL
    const auto str = ElfBuilder::shdr(good, strtab);
    poke<Elf64_Xword>(bytes, field(strtab, offsetof(Elf64_Shdr, sh_size)), str.sh_size - 1);
    EXPECT_EQ(parse_error(bytes), strings + " does not end with a NUL");
    poke<Elf64_Xword>(bytes, field(strtab, offsetof(Elf64_Shdr, sh_size)), 0);
    EXPECT_EQ(parse_error(bytes), strings + " does not end with a NUL");
}

TEST(ElfImageRejects, HostileSymbols) {
    const ElfBuilder b = good_kernel();
    const auto good = b.build();
    const uint64_t first = ElfBuilder::shdr(good, b.symtab_section()).sh_offset +
                           sizeof(Elf64_Sym);  // symbol 1: _start
    auto bytes = good;
    poke<Elf64_Word>(bytes, first + offsetof(Elf64_Sym, st_name), 0x7fffffff);
    EXPECT_EQ(parse_error(bytes),
              "kernel: symbol 1 has name offset 2147483647, outside its "
              "string table (section " +
                  std::to_string(b.strtab_section()) + ")");
    bytes = good;
    poke<Elf64_Xword>(bytes, first + offsetof(Elf64_Sym, st_size), UINT64_MAX);
    EXPECT_EQ(parse_error(bytes),
              "kernel: symbol 1 address 0x100010 + size 0xffffffffffffffff overflows 64 bits");
}

// ---- never crash ----

// Random byte and word corruptions of a good image either parse or throw Error; under
// ASan and UBSan this also proves no out-of-bounds read or overflow on the way.
TEST(ElfImage, CorruptedImagesNeverCrash) {
    const auto good = good_kernel().build();
    std::mt19937_64 rng(42);
    const uint64_t interesting[] = {
        0, 1, 0x7fffffff, 0xffffffff, UINT64_MAX, UINT64_MAX - 7, good.size(), 0x38, 0x40};
    int parsed = 0;
    for (int round = 0; round < 20000; ++round) {
        auto bytes = good;
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            // Most edits hit the headers, where the offsets and sizes live.
            const uint64_t limit = rng() % 2 ? 0x100 : bytes.size();
            const uint64_t at = rng() % (limit - 8);
            if (rng() % 2) {
                bytes[at] = static_cast<uint8_t>(rng());
            } else {
                ElfBuilder::poke(bytes, at & ~uint64_t{7},
                                 interesting[rng() % std::size(interesting)]);
            }
        }
        if (rng() % 8 == 0) bytes.resize(rng() % bytes.size());
        try {
            const auto image = parse(std::move(bytes));
            for (const auto& s : image.segments()) (void)image.segment_bytes(s);
            (void)image.symbolize(kText + rng() % 0x3000);
            ++parsed;
        } catch (const Error&) {
        }
    }
    EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace xenolith::boot
