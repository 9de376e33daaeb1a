#include "boot/elf_image.hpp"
#include "boot/image_bytes.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xen/elfnote.h>

#include <algorithm>
#include <bit>
#include <bitset>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/error.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::boot {

// Structures are read with memcpy straight from the file, which is only right on a
// little-endian host (the parser rejects big-endian images).
static_assert(std::endian::native == std::endian::little);

namespace {

constexpr uint64_t kU64Max = UINT64_MAX;

// True when [offset, offset + length) lies inside a buffer of `size` bytes; never overflows.
bool fits(uint64_t offset, uint64_t length, uint64_t size) {
    return offset <= size && length <= size - offset;
}

uint64_t align_up(uint64_t value, uint64_t align) {  // value < 2^63 here, so no overflow
    return (value + align - 1) & ~(align - 1);
}

template <class T>
T read_at(std::span<const uint8_t> bytes, uint64_t offset) {  // the caller checked fits()
    return read_le<T>(bytes, offset);
}

std::string range(uint64_t start, uint64_t size) {
    return "[" + hex(start) + ", " + hex(start + size) + ")";
}

const char* machine_name(unsigned machine) {
    switch (machine) {
        case EM_NONE:
            return "none";
        case EM_386:
            return "i386";
        case EM_ARM:
            return "ARM";
        case EM_AARCH64:
            return "AArch64";
        case EM_RISCV:
            return "RISC-V";
        case EM_PPC:
            return "PowerPC";
        case EM_PPC64:
            return "PowerPC64";
        case EM_MIPS:
            return "MIPS";
        case EM_S390:
            return "S/390";
        case EM_SPARCV9:
            return "SPARC V9";
        case EM_IA_64:
            return "IA-64";
        case EM_LOONGARCH:
            return "LoongArch";
        default:
            return nullptr;
    }
}

std::string type_name(unsigned type) {
    switch (type) {
        case ET_NONE:
            return "ET_NONE";
        case ET_REL:
            return "ET_REL";
        case ET_EXEC:
            return "ET_EXEC";
        case ET_DYN:
            return "ET_DYN";
        case ET_CORE:
            return "ET_CORE";
        default:
            return hex(type);
    }
}

enum class NoteKind { kIgnored, kNumeric, kString };

struct XenNoteInfo {
    const char* name;  // XEN_ELFNOTE_<name>
    NoteKind kind;
};

XenNoteInfo xen_note_info(uint32_t type) {
    switch (type) {
        case XEN_ELFNOTE_ENTRY:
            return {"ENTRY", NoteKind::kNumeric};
        case XEN_ELFNOTE_HYPERCALL_PAGE:
            return {"HYPERCALL_PAGE", NoteKind::kNumeric};
        case XEN_ELFNOTE_VIRT_BASE:
            return {"VIRT_BASE", NoteKind::kNumeric};
        case XEN_ELFNOTE_PADDR_OFFSET:
            return {"PADDR_OFFSET", NoteKind::kNumeric};
        case XEN_ELFNOTE_PHYS32_ENTRY:
            return {"PHYS32_ENTRY", NoteKind::kNumeric};
        case XEN_ELFNOTE_HV_START_LOW:
            return {"HV_START_LOW", NoteKind::kNumeric};
        case XEN_ELFNOTE_INIT_P2M:
            return {"INIT_P2M", NoteKind::kNumeric};
        case XEN_ELFNOTE_XEN_VERSION:
            return {"XEN_VERSION", NoteKind::kString};
        case XEN_ELFNOTE_GUEST_OS:
            return {"GUEST_OS", NoteKind::kString};
        case XEN_ELFNOTE_GUEST_VERSION:
            return {"GUEST_VERSION", NoteKind::kString};
        case XEN_ELFNOTE_LOADER:
            return {"LOADER", NoteKind::kString};
        case XEN_ELFNOTE_FEATURES:
            return {"FEATURES", NoteKind::kString};
        default:
            return {nullptr, NoteKind::kIgnored};
    }
}

// A PT_LOAD segment with its program header index, for messages.
struct IndexedSegment {
    LoadSegment segment;
    unsigned index;
};

// A region of the file that holds notes: a PT_NOTE segment or an SHT_NOTE section.
struct NoteRegion {
    std::string what;  // "note segment 3", "note section 5"
    uint64_t offset;
    uint64_t size;
    uint64_t align;
};

}  // namespace

class ElfImage::Parser {
  public:
    explicit Parser(ElfImage& image) : image_(image), bytes_(image.bytes_) {}

    void run() {
        parse_header();
        parse_program_headers();
        parse_section_headers();
        // Section headers are optional, so notes come from PT_NOTE when there is one.
        const auto& regions = segment_notes_.empty() ? section_notes_ : segment_notes_;
        for (const auto& region : regions) parse_notes(region);
    }

  private:
    [[noreturn]] void fail(const std::string& what) const {
        throw Error(image_.name_ + ": " + what);
    }

    void parse_header() {
        if (bytes_.size() < SELFMAG || std::memcmp(bytes_.data(), ELFMAG, SELFMAG) != 0)
            fail("not an ELF file (bad magic)");
        if (bytes_.size() > EI_CLASS && bytes_[EI_CLASS] != ELFCLASS64) {
            if (bytes_[EI_CLASS] == ELFCLASS32) fail("ELF class 32 is not supported, need ELF64");
            fail("ELF class byte " + std::to_string(bytes_[EI_CLASS]) + " is invalid, need ELF64");
        }
        if (bytes_.size() > EI_DATA && bytes_[EI_DATA] != ELFDATA2LSB) {
            if (bytes_[EI_DATA] == ELFDATA2MSB) fail("big-endian ELF is not supported");
            fail("ELF data encoding byte " + std::to_string(bytes_[EI_DATA]) +
                 " is invalid, need little-endian");
        }
        if (bytes_.size() < sizeof(Elf64_Ehdr))
            fail("file is truncated: its " + std::to_string(bytes_.size()) +
                 " bytes cannot hold the " + std::to_string(sizeof(Elf64_Ehdr)) +
                 "-byte ELF header");
        ehdr_ = read_at<Elf64_Ehdr>(bytes_, 0);

        const unsigned version =
            ehdr_.e_ident[EI_VERSION] != EV_CURRENT ? ehdr_.e_ident[EI_VERSION] : ehdr_.e_version;
        if (version != EV_CURRENT)
            fail("ELF version " + std::to_string(version) + " is not supported, need " +
                 std::to_string(EV_CURRENT));
        if (ehdr_.e_machine != EM_X86_64) {
            const char* machine = machine_name(ehdr_.e_machine);
            fail("machine " + std::to_string(ehdr_.e_machine) +
                 (machine ? std::string(" (") + machine + ")" : std::string()) + " is not x86-64");
        }
        if (ehdr_.e_type != ET_EXEC)
            fail("type " + type_name(ehdr_.e_type) + " is not supported, need ET_EXEC");
        if (ehdr_.e_phnum == PN_XNUM)
            fail("extended program header numbering (e_phnum = PN_XNUM) is not supported");
        if (ehdr_.e_phnum == 0) fail("no loadable segments");
        if (ehdr_.e_phentsize != sizeof(Elf64_Phdr))
            fail("program header size is " + std::to_string(ehdr_.e_phentsize) + " bytes, need " +
                 std::to_string(sizeof(Elf64_Phdr)));
        image_.entry_ = ehdr_.e_entry;
    }

    void parse_program_headers() {
        std::vector<IndexedSegment> loads;
        for (unsigned i = 0; i < ehdr_.e_phnum; ++i) {
            // i * 56 + 56 is at most about 3.7 MB: no overflow before fits().
            const uint64_t relative = uint64_t{i} * sizeof(Elf64_Phdr);
            if (!fits(ehdr_.e_phoff, relative + sizeof(Elf64_Phdr), bytes_.size()))
                fail("program header " + std::to_string(i) + " lies outside the file");
            const auto ph = read_at<Elf64_Phdr>(bytes_, ehdr_.e_phoff + relative);
            const std::string segment = "segment " + std::to_string(i);

            if (ph.p_type == PT_LOAD) {
                if (ph.p_filesz > ph.p_memsz) fail(segment + " file size exceeds its memory size");
                // Without file bytes (all bss) p_offset means nothing.
                if (ph.p_filesz != 0 && !fits(ph.p_offset, ph.p_filesz, bytes_.size()))
                    fail(segment + " (" + hex(ph.p_filesz) + " bytes at file offset " +
                         hex(ph.p_offset) + ") lies outside the " + std::to_string(bytes_.size()) +
                         "-byte file");
                if (ph.p_memsz > kU64Max - ph.p_paddr)
                    fail(segment + " physical address " + hex(ph.p_paddr) + " + size " +
                         hex(ph.p_memsz) + " overflows 64 bits");
                if (ph.p_memsz > kU64Max - ph.p_vaddr)
                    fail(segment + " virtual address " + hex(ph.p_vaddr) + " + size " +
                         hex(ph.p_memsz) + " overflows 64 bits");
                loads.push_back({{.paddr = ph.p_paddr,
                                  .vaddr = ph.p_vaddr,
                                  .file_offset = ph.p_offset,
                                  .file_size = ph.p_filesz,
                                  .mem_size = ph.p_memsz,
                                  .flags = ph.p_flags & (PF_X | PF_W | PF_R)},
                                 i});
            } else if (ph.p_type == PT_NOTE) {
                if (!fits(ph.p_offset, ph.p_filesz, bytes_.size()))
                    fail("note " + segment + " lies outside the file");
                segment_notes_.push_back({"note " + segment, ph.p_offset, ph.p_filesz, ph.p_align});
            }
        }
        if (loads.empty()) fail("no loadable segments");

        check_no_overlap(loads, &LoadSegment::vaddr, "virtual");
        check_no_overlap(loads, &LoadSegment::paddr, "physical");  // leaves them sorted by paddr
        for (const auto& load : loads) image_.segments_.push_back(load.segment);
    }

    // Sorts `loads` by `address` and rejects two non-empty segments sharing an address.
    void check_no_overlap(std::vector<IndexedSegment>& loads, uint64_t LoadSegment::*address,
                          const char* space) const {
        std::stable_sort(loads.begin(), loads.end(), [&](const auto& a, const auto& b) {
            return a.segment.*address < b.segment.*address;
        });
        const IndexedSegment* furthest = nullptr;  // the one reaching highest so far
        for (const auto& load : loads) {
            const LoadSegment& s = load.segment;
            if (s.mem_size == 0) continue;
            if (furthest) {
                const LoadSegment& f = furthest->segment;
                if (s.*address < f.*address + f.mem_size) {
                    fail("segments " + std::to_string(std::min(furthest->index, load.index)) +
                         " and " + std::to_string(std::max(furthest->index, load.index)) +
                         " overlap in " + space + " memory (" + range(f.*address, f.mem_size) +
                         " and " + range(s.*address, s.mem_size) + ")");
                }
            }
            if (!furthest ||
                s.*address + s.mem_size > furthest->segment.*address + furthest->segment.mem_size)
                furthest = &load;
        }
    }

    void parse_section_headers() {
        if (ehdr_.e_shoff == 0) return;  // no section headers: no symbols, notes from PT_NOTE
        if (ehdr_.e_shentsize != sizeof(Elf64_Shdr))
            fail("section header size is " + std::to_string(ehdr_.e_shentsize) + " bytes, need " +
                 std::to_string(sizeof(Elf64_Shdr)));
        uint64_t count = ehdr_.e_shnum;
        if (count == 0) {  // extended numbering: section 0's sh_size holds the count
            if (!fits(ehdr_.e_shoff, sizeof(Elf64_Shdr), bytes_.size()))
                fail("section header 0 lies outside the file");
            count = read_at<Elf64_Shdr>(bytes_, ehdr_.e_shoff).sh_size;
            if (count == 0) return;
        }
        if (count > bytes_.size() / sizeof(Elf64_Shdr) ||
            !fits(ehdr_.e_shoff, count * sizeof(Elf64_Shdr), bytes_.size()))
            fail("section header table (" + std::to_string(count) + " entries at offset " +
                 hex(ehdr_.e_shoff) + ") lies outside the file");
        auto section = [&](uint64_t i) {
            return read_at<Elf64_Shdr>(bytes_, ehdr_.e_shoff + i * sizeof(Elf64_Shdr));
        };

        bool have_symtab = false;
        for (uint64_t i = 1; i < count; ++i) {
            const auto sh = section(i);
            if (sh.sh_type == SHT_NOTE) {
                const std::string what = "note section " + std::to_string(i);
                if (!fits(sh.sh_offset, sh.sh_size, bytes_.size()))
                    fail(what + " lies outside the file");
                section_notes_.push_back({what, sh.sh_offset, sh.sh_size, sh.sh_addralign});
            } else if (sh.sh_type == SHT_SYMTAB && !have_symtab) {
                have_symtab = true;
                if (sh.sh_link >= count)
                    fail("symbol table (section " + std::to_string(i) + ") links to section " +
                         std::to_string(sh.sh_link) + ", which does not exist");
                parse_symbols(sh, i, section(sh.sh_link), sh.sh_link);
            }
        }
    }

    void parse_symbols(const Elf64_Shdr& symtab, uint64_t index, const Elf64_Shdr& strtab,
                       uint64_t strtab_index) {
        const std::string what = "symbol table (section " + std::to_string(index) + ")";
        const std::string strings = "string table (section " + std::to_string(strtab_index) + ")";
        if (symtab.sh_entsize != sizeof(Elf64_Sym))
            fail(what + " has entry size " + std::to_string(symtab.sh_entsize) + ", need " +
                 std::to_string(sizeof(Elf64_Sym)));
        if (!fits(symtab.sh_offset, symtab.sh_size, bytes_.size()))
            fail(what + " lies outside the file");
        if (symtab.sh_size % sizeof(Elf64_Sym) != 0)
            fail(what + " size " + std::to_string(symtab.sh_size) + " is not a multiple of " +
                 std::to_string(sizeof(Elf64_Sym)));
        if (strtab.sh_type != SHT_STRTAB)
            fail(what + " links to a section that is not a " + "string table");
        if (!fits(strtab.sh_offset, strtab.sh_size, bytes_.size()))
            fail(strings + " lies outside the file");
        // A final NUL bounds every name lookup by the table itself.
        if (strtab.sh_size == 0 || bytes_[strtab.sh_offset + strtab.sh_size - 1] != 0)
            fail(strings + " does not end with a NUL");

        const uint64_t count = symtab.sh_size / sizeof(Elf64_Sym);
        if (count >= kNone) fail(what + " has too many symbols");
        auto& symbols = image_.symbols_;
        for (uint64_t i = 1; i < count; ++i) {  // symbol 0 is the null symbol
            const auto sym = read_at<Elf64_Sym>(bytes_, symtab.sh_offset + i * sizeof(Elf64_Sym));
            const unsigned type = ELF64_ST_TYPE(sym.st_info);
            if ((type != STT_FUNC && type != STT_OBJECT) || sym.st_shndx == SHN_UNDEF) continue;
            if (sym.st_name >= strtab.sh_size)
                fail("symbol " + std::to_string(i) + " has name offset " +
                     std::to_string(sym.st_name) + ", outside its " + strings);
            if (bytes_[strtab.sh_offset + sym.st_name] == 0) continue;  // unnamed
            if (sym.st_size > kU64Max - sym.st_value)
                fail("symbol " + std::to_string(i) + " address " + hex(sym.st_value) + " + size " +
                     hex(sym.st_size) + " overflows 64 bits");
            symbols.push_back({.address = sym.st_value,
                               .size = sym.st_size,
                               .end_max = 0,
                               .name = sym.st_name,
                               .prev_func = kNone,
                               .is_func = type == STT_FUNC});
        }
        // At one address a FUNC sorts after an OBJECT, so lookups (which walk down) prefer it.
        std::stable_sort(symbols.begin(), symbols.end(), [](const auto& a, const auto& b) {
            return a.address != b.address ? a.address < b.address : a.is_func < b.is_func;
        });
        uint64_t end_max = 0;
        uint32_t prev_func = kNone;
        for (uint32_t i = 0; i < symbols.size(); ++i) {
            end_max = std::max(end_max, symbols[i].address + symbols[i].size);
            if (symbols[i].is_func) prev_func = i;
            symbols[i].end_max = end_max;
            symbols[i].prev_func = prev_func;
        }
        image_.strtab_offset_ = strtab.sh_offset;
        image_.strtab_size_ = strtab.sh_size;
    }

    void parse_notes(const NoteRegion& region) {
        constexpr uint64_t kHeader = sizeof(Elf64_Nhdr);
        // Notes are padded to 4 bytes in practice, to 8 in segments that ask for it.
        const uint64_t align = region.align == 8 ? 8 : 4;
        const auto notes = std::span(bytes_).subspan(region.offset, region.size);
        uint64_t pos = 0;
        for (unsigned n = 0; pos < notes.size(); ++n) {
            const std::string what = "note " + std::to_string(n) + " in " + region.what;
            if (notes.size() - pos < kHeader) fail(what + " has a truncated header");
            const auto nh = read_at<Elf64_Nhdr>(notes, pos);
            const uint64_t name_at = pos + kHeader;
            if (!fits(name_at, nh.n_namesz, notes.size())) fail(what + " name runs past its end");
            // Padding is relative to the region's start: with 8-byte alignment "Xen\0"
            // after the 12-byte header needs no padding.
            const uint64_t desc_at = align_up(name_at + nh.n_namesz, align);
            if (!fits(desc_at, nh.n_descsz, notes.size()))
                fail(what + " descriptor runs past its end");
            // The last note's trailing padding may be missing.
            pos = std::min<uint64_t>(align_up(desc_at + nh.n_descsz, align), notes.size());

            // Linux writes XEN_ELFNOTE_FEATURES with `.ascii`: its NUL is the first byte of
            // the note's zero padding, which Xen's own loader reads as the terminator.
            const uint64_t desc_end = desc_at + nh.n_descsz;
            const bool nul_in_padding =
                desc_end % align != 0 && desc_end < notes.size() && notes[desc_end] == 0;

            static constexpr char kXen[] = "Xen";  // namesz counts the NUL
            if (nh.n_namesz == sizeof kXen &&
                std::memcmp(notes.data() + name_at, kXen, sizeof kXen) == 0)
                xen_note(nh.n_type, notes.subspan(desc_at, nh.n_descsz), nul_in_padding);
        }
    }

    void xen_note(uint32_t type, std::span<const uint8_t> desc, bool nul_in_padding) {
        XenNotes& notes = image_.notes_;
        notes.has_any = true;
        const XenNoteInfo info = xen_note_info(type);
        if (info.kind == NoteKind::kIgnored) return;
        const std::string what = "Xen note " + std::to_string(type) + " (" + info.name + ")";
        if (seen_.test(type)) fail(what + " appears more than once");
        seen_.set(type);

        if (info.kind == NoteKind::kNumeric) {
            uint64_t value;
            if (desc.size() == 4) {
                value = read_at<uint32_t>(desc, 0);
            } else if (desc.size() == 8) {
                value = read_at<uint64_t>(desc, 0);
            } else {
                fail(what + " has size " + std::to_string(desc.size()) + ", need 4 or 8");
            }
            numeric_field(type) = value;
            return;
        }

        if (desc.size() > kMaxStringNoteSize)
            fail(what + " is " + std::to_string(desc.size()) + " bytes, longer than the " +
                 std::to_string(kMaxStringNoteSize) + "-byte limit");
        const auto nul = std::find(desc.begin(), desc.end(), uint8_t{0});
        if (nul == desc.end() && !nul_in_padding) fail(what + " is not NUL-terminated");
        // The strings end up in logs and on terminals: printable ASCII only.
        for (auto it = desc.begin(); it != nul; ++it) {
            if (*it < 0x20 || *it > 0x7e)
                fail(what + " contains the non-printable byte " + hex(*it));
        }
        string_field(type).assign(desc.begin(), nul);
    }

    std::optional<uint64_t>& numeric_field(uint32_t type) {
        XenNotes& notes = image_.notes_;
        switch (type) {
            case XEN_ELFNOTE_ENTRY:
                return notes.entry;
            case XEN_ELFNOTE_HYPERCALL_PAGE:
                return notes.hypercall_page;
            case XEN_ELFNOTE_VIRT_BASE:
                return notes.virt_base;
            case XEN_ELFNOTE_PADDR_OFFSET:
                return notes.paddr_offset;
            case XEN_ELFNOTE_PHYS32_ENTRY:
                return notes.phys32_entry;
            case XEN_ELFNOTE_HV_START_LOW:
                return notes.hv_start_low;
            default:
                return notes.init_p2m;  // XEN_ELFNOTE_INIT_P2M, per xen_note_info
        }
    }

    std::string& string_field(uint32_t type) {
        XenNotes& notes = image_.notes_;
        switch (type) {
            case XEN_ELFNOTE_XEN_VERSION:
                return notes.xen_version;
            case XEN_ELFNOTE_GUEST_OS:
                return notes.guest_os;
            case XEN_ELFNOTE_GUEST_VERSION:
                return notes.guest_version;
            case XEN_ELFNOTE_LOADER:
                return notes.loader;
            default:
                return notes.features;  // XEN_ELFNOTE_FEATURES, per xen_note_info
        }
    }

    ElfImage& image_;
    std::span<const uint8_t> bytes_;
    Elf64_Ehdr ehdr_{};
    std::vector<NoteRegion> segment_notes_;
    std::vector<NoteRegion> section_notes_;
    std::bitset<XEN_ELFNOTE_MAX + 1> seen_;  // Xen note types already read
};

ElfImage ElfImage::parse(std::vector<uint8_t> bytes, std::string name) {
    ElfImage image;
    image.name_ = std::move(name);
    image.bytes_ = std::move(bytes);
    Parser(image).run();
    return image;
}

ElfImage ElfImage::load(const std::string& path) {
    return parse(read_image_file(path, kMaxFileSize), path);
}

std::optional<Symbol> ElfImage::lookup(std::string_view name) const {
    const char* names = reinterpret_cast<const char*>(bytes_.data() + strtab_offset_);
    for (const SymbolEntry& s : symbols_) {
        std::string_view n(names + s.name, ::strnlen(names + s.name, strtab_size_ - s.name));
        if (n == name) return Symbol{std::string(n), s.address, s.size, 0};
    }
    return std::nullopt;
}

std::optional<Symbol> ElfImage::symbolize(uint64_t address) const {
    const auto above =
        std::upper_bound(symbols_.begin(), symbols_.end(), address,
                         [](uint64_t a, const SymbolEntry& s) { return a < s.address; });
    if (above == symbols_.begin()) return std::nullopt;
    const size_t last = static_cast<size_t>(above - symbols_.begin()) - 1;

    auto make = [&](const SymbolEntry& s) {
        const char* names = reinterpret_cast<const char*>(bytes_.data() + strtab_offset_);
        return Symbol{
            .name = std::string(names + s.name, ::strnlen(names + s.name, strtab_size_ - s.name)),
            .address = s.address,
            .size = s.size,
            .offset = address - s.address};
    };

    // Walk down from the nearest start until no earlier symbol can reach `address`.
    for (size_t i = last + 1; i-- > 0 && symbols_[i].end_max > address;) {
        if (address - symbols_[i].address < symbols_[i].size) return make(symbols_[i]);
    }

    // Fall back on the nearest FUNC below (assembly labels often have no size), but only
    // within one segment, so a wild address is not blamed on the last function.
    const uint32_t func = symbols_[last].prev_func;
    if (func == kNone) return std::nullopt;
    const SymbolEntry& s = symbols_[func];
    for (const auto& seg : segments_) {
        // Unsigned wrap-around makes each test false for an address below vaddr.
        if (s.address - seg.vaddr < seg.mem_size && address - seg.vaddr < seg.mem_size)
            return make(s);
    }
    return std::nullopt;
}

std::span<const uint8_t> ElfImage::segment_bytes(const LoadSegment& segment) const {
    if (segment.file_size == 0) return {};
    if (!fits(segment.file_offset, segment.file_size, bytes_.size()))
        throw Error(name_ + ": segment at file offset " + hex(segment.file_offset) +
                    " lies outside the file");
    return std::span(bytes_).subspan(segment.file_offset, segment.file_size);
}

}  // namespace xenolith::boot
