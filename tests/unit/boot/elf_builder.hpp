// Synthesises small ELF64 images in memory for the ElfImage tests and the fuzz corpus.
//
// Layout: ELF header, program headers (PT_LOADs in the order added, then one PT_NOTE), each
// segment's file bytes, the notes, .symtab, .strtab, .shstrtab, section headers. Tests
// corrupt the result with poke() at the offsets the helpers below compute.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace xenolith::boot::testing {

class ElfBuilder {
  public:
    struct Segment {
        uint32_t type;
        uint32_t flags;
        uint64_t vaddr;
        uint64_t paddr;
        std::vector<uint8_t> data;
        uint64_t mem_size;
    };
    struct Note {
        std::string owner;
        uint32_t type;
        std::vector<uint8_t> desc;
    };
    struct Sym {
        std::string name;
        uint64_t value;
        uint64_t size;
        unsigned char type;  // STT_*
        uint16_t shndx;
    };

    unsigned char elf_class = ELFCLASS64;
    unsigned char data_encoding = ELFDATA2LSB;
    uint16_t machine = EM_X86_64;
    uint16_t type = ET_EXEC;
    uint64_t entry = 0x100000;
    bool note_segment = true;     // notes in a PT_NOTE segment (always also an SHT_NOTE section)
    bool section_headers = true;  // emit a section header table
    uint64_t note_align = 4;      // 4 or 8
    std::vector<Segment> segments;
    std::vector<Note> notes;
    std::vector<Sym> symbols;

    // A PT_LOAD at paddr = vaddr = `address`; mem_size 0 means data.size().
    ElfBuilder& load(uint64_t address, std::vector<uint8_t> data, uint64_t mem_size = 0,
                     uint32_t flags = PF_R | PF_X) {
        if (mem_size == 0) mem_size = data.size();
        segments.push_back({PT_LOAD, flags, address, address, std::move(data), mem_size});
        return *this;
    }
    ElfBuilder& note(std::string owner, uint32_t note_type, std::vector<uint8_t> desc) {
        notes.push_back({std::move(owner), note_type, std::move(desc)});
        return *this;
    }
    ElfBuilder& xen_note(uint32_t note_type, std::vector<uint8_t> desc) {
        return note("Xen", note_type, std::move(desc));
    }
    ElfBuilder& xen_u32(uint32_t note_type, uint32_t value) {
        return xen_note(note_type, le_bytes(value, 4));
    }
    ElfBuilder& xen_u64(uint32_t note_type, uint64_t value) {
        return xen_note(note_type, le_bytes(value, 8));
    }
    ElfBuilder& xen_string(uint32_t note_type, const std::string& value) {
        std::vector<uint8_t> desc(value.begin(), value.end());
        desc.push_back(0);
        return xen_note(note_type, std::move(desc));
    }
    ElfBuilder& symbol(std::string name, uint64_t value, uint64_t size,
                       unsigned char sym_type = STT_FUNC, uint16_t shndx = SHN_ABS) {
        symbols.push_back({std::move(name), value, size, sym_type, shndx});
        return *this;
    }

    static std::vector<uint8_t> le_bytes(uint64_t value, unsigned size) {
        std::vector<uint8_t> out(size);
        for (unsigned i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
        return out;
    }

    static constexpr uint64_t phdr_offset(unsigned index) {
        return sizeof(Elf64_Ehdr) + uint64_t{index} * sizeof(Elf64_Phdr);
    }

    unsigned phdr_count() const {
        return static_cast<unsigned>(segments.size()) + (has_note_segment() ? 1 : 0);
    }
    bool has_note_segment() const { return note_segment && !notes.empty(); }

    std::vector<uint8_t> build() const {
        std::vector<uint8_t> out(phdr_offset(phdr_count()));
        std::vector<Elf64_Phdr> phdrs;
        for (const auto& s : segments) {
            if (!s.data.empty()) align(out, 16);
            phdrs.push_back({.p_type = s.type,
                             .p_flags = s.flags,
                             .p_offset = out.size(),
                             .p_vaddr = s.vaddr,
                             .p_paddr = s.paddr,
                             .p_filesz = s.data.size(),
                             .p_memsz = s.mem_size,
                             .p_align = 16});
            out.insert(out.end(), s.data.begin(), s.data.end());
        }

        if (!notes.empty()) align(out, note_align);
        const uint64_t notes_at = out.size();
        for (const auto& n : notes) {
            const Elf64_Nhdr nh{static_cast<Elf64_Word>(n.owner.size() + 1),
                                static_cast<Elf64_Word>(n.desc.size()), n.type};
            append(out, nh);
            out.insert(out.end(), n.owner.begin(), n.owner.end());
            out.push_back(0);
            align(out, note_align);
            out.insert(out.end(), n.desc.begin(), n.desc.end());
            align(out, note_align);
        }
        const uint64_t notes_size = out.size() - notes_at;
        if (has_note_segment()) {
            phdrs.push_back({.p_type = PT_NOTE,
                             .p_flags = PF_R,
                             .p_offset = notes_at,
                             .p_vaddr = 0,
                             .p_paddr = 0,
                             .p_filesz = notes_size,
                             .p_memsz = notes_size,
                             .p_align = note_align});
        }

        Elf64_Ehdr eh{};
        std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = elf_class;
        eh.e_ident[EI_DATA] = data_encoding;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_ident[EI_OSABI] = ELFOSABI_SYSV;
        eh.e_type = type;
        eh.e_machine = machine;
        eh.e_version = EV_CURRENT;
        eh.e_entry = entry;
        eh.e_phoff = phdrs.empty() ? 0 : sizeof(Elf64_Ehdr);
        eh.e_ehsize = sizeof(Elf64_Ehdr);
        eh.e_phentsize = sizeof(Elf64_Phdr);
        eh.e_phnum = static_cast<uint16_t>(phdrs.size());
        eh.e_shentsize = sizeof(Elf64_Shdr);
        for (size_t i = 0; i < phdrs.size(); ++i) put(out, phdr_offset(i), phdrs[i]);

        if (section_headers) add_sections(out, eh, notes_at, notes_size);
        put(out, 0, eh);
        return out;
    }

    template <class T>
    static void poke(std::vector<uint8_t>& bytes, uint64_t offset, T value) {
        std::memcpy(bytes.data() + offset, &value, sizeof value);
    }
    template <class T>
    static T peek(const std::vector<uint8_t>& bytes, uint64_t offset) {
        T value;
        std::memcpy(&value, bytes.data() + offset, sizeof value);
        return value;
    }
    // Offset of section header `index` in an image built with section headers.
    static uint64_t shdr_offset(const std::vector<uint8_t>& bytes, unsigned index) {
        return peek<Elf64_Ehdr>(bytes, 0).e_shoff + uint64_t{index} * sizeof(Elf64_Shdr);
    }
    static Elf64_Shdr shdr(const std::vector<uint8_t>& bytes, unsigned index) {
        return peek<Elf64_Shdr>(bytes, shdr_offset(bytes, index));
    }
    // Section indices the builder assigns.
    unsigned note_section() const { return notes.empty() ? 0 : 1; }
    unsigned symtab_section() const { return symbols.empty() ? 0 : (notes.empty() ? 1 : 2); }
    unsigned strtab_section() const { return symbols.empty() ? 0 : symtab_section() + 1; }

  private:
    static void align(std::vector<uint8_t>& out, uint64_t to) {
        out.resize((out.size() + to - 1) / to * to);
    }
    template <class T>
    static void append(std::vector<uint8_t>& out, const T& value) {
        const auto* p = reinterpret_cast<const uint8_t*>(&value);
        out.insert(out.end(), p, p + sizeof value);
    }
    template <class T>
    static void put(std::vector<uint8_t>& out, uint64_t offset, const T& value) {
        std::memcpy(out.data() + offset, &value, sizeof value);
    }

    void add_sections(std::vector<uint8_t>& out, Elf64_Ehdr& eh, uint64_t notes_at,
                      uint64_t notes_size) const {
        std::string shstrtab(1, '\0');
        auto section_name = [&](const char* name) {
            const auto at = static_cast<Elf64_Word>(shstrtab.size());
            shstrtab += name;
            shstrtab += '\0';
            return at;
        };
        std::vector<Elf64_Shdr> shdrs(1);  // section 0 is the null section
        if (!notes.empty()) {
            shdrs.push_back({.sh_name = section_name(".note"),
                             .sh_type = SHT_NOTE,
                             .sh_flags = SHF_ALLOC,
                             .sh_offset = notes_at,
                             .sh_size = notes_size,
                             .sh_addralign = note_align});
        }
        if (!symbols.empty()) {
            std::string strtab(1, '\0');
            std::vector<Elf64_Sym> syms(1);
            for (const auto& s : symbols) {
                syms.push_back(
                    {.st_name = static_cast<Elf64_Word>(strtab.size()),
                     .st_info = static_cast<unsigned char>(ELF64_ST_INFO(STB_GLOBAL, s.type)),
                     .st_other = STV_DEFAULT,
                     .st_shndx = s.shndx,
                     .st_value = s.value,
                     .st_size = s.size});
                strtab += s.name;
                strtab += '\0';
            }
            align(out, 8);
            const uint64_t symtab_at = out.size();
            for (const auto& s : syms) append(out, s);
            const auto symtab_index = static_cast<Elf64_Word>(shdrs.size());
            shdrs.push_back({.sh_name = section_name(".symtab"),
                             .sh_type = SHT_SYMTAB,
                             .sh_offset = symtab_at,
                             .sh_size = syms.size() * sizeof(Elf64_Sym),
                             .sh_link = symtab_index + 1,
                             .sh_info = 1,  // index of the first non-local symbol
                             .sh_addralign = 8,
                             .sh_entsize = sizeof(Elf64_Sym)});
            shdrs.push_back({.sh_name = section_name(".strtab"),
                             .sh_type = SHT_STRTAB,
                             .sh_offset = out.size(),
                             .sh_size = strtab.size(),
                             .sh_addralign = 1});
            out.insert(out.end(), strtab.begin(), strtab.end());
        }
        eh.e_shstrndx = static_cast<uint16_t>(shdrs.size());
        shdrs.push_back({.sh_name = section_name(".shstrtab"),
                         .sh_type = SHT_STRTAB,
                         .sh_offset = out.size(),
                         .sh_size = shstrtab.size(),
                         .sh_addralign = 1});
        out.insert(out.end(), shstrtab.begin(), shstrtab.end());

        align(out, 8);
        eh.e_shoff = out.size();
        eh.e_shnum = static_cast<uint16_t>(shdrs.size());
        for (const auto& sh : shdrs) append(out, sh);
    }
};

}  // namespace xenolith::boot::testing
