// A guest kernel image: an ELF64 x86-64 executable with Xen ELF notes.
//
// The parser treats every byte of the image as hostile: each offset, size and count is
// checked against the file and for 64-bit wrap-around before it is used, and a bad image is
// rejected with one sentence naming it. It checks the image's own consistency only; whether
// the segments fit the guest's RAM is the domain builder's business.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace xenolith::boot {

// One PT_LOAD program header.
struct LoadSegment {
    uint64_t paddr = 0;
    uint64_t vaddr = 0;
    uint64_t file_offset = 0;
    uint64_t file_size = 0;  // bytes copied from the file; the rest up to mem_size is zeroed
    uint64_t mem_size = 0;
    uint32_t flags = 0;  // PF_X | PF_W | PF_R
};

// The values of the Xen ELF notes (owner "Xen", types from <xen/elfnote.h>) that were present.
struct XenNotes {
    std::optional<uint64_t> entry;           // XEN_ELFNOTE_ENTRY
    std::optional<uint64_t> hypercall_page;  // XEN_ELFNOTE_HYPERCALL_PAGE
    std::optional<uint64_t> virt_base;       // XEN_ELFNOTE_VIRT_BASE
    std::optional<uint64_t> paddr_offset;    // XEN_ELFNOTE_PADDR_OFFSET
    std::optional<uint64_t> phys32_entry;    // XEN_ELFNOTE_PHYS32_ENTRY
    std::optional<uint64_t> hv_start_low;    // XEN_ELFNOTE_HV_START_LOW
    std::optional<uint64_t> init_p2m;        // XEN_ELFNOTE_INIT_P2M
    std::string guest_os;                    // XEN_ELFNOTE_GUEST_OS
    std::string guest_version;               // XEN_ELFNOTE_GUEST_VERSION
    std::string xen_version;                 // XEN_ELFNOTE_XEN_VERSION
    std::string loader;                      // XEN_ELFNOTE_LOADER
    std::string features;                    // XEN_ELFNOTE_FEATURES
    bool has_any = false;                    // at least one note owned by "Xen", of any type
};

// A symbol from the image's .symtab, resolved for one address.
struct Symbol {
    std::string name;
    uint64_t address = 0;  // st_value
    uint64_t size = 0;     // st_size
    uint64_t offset = 0;   // the looked-up address minus `address`
};

class ElfImage {
  public:
    // Longest string note accepted, terminating NUL included.
    static constexpr uint64_t kMaxStringNoteSize = 1024;
    // Largest image file `load` reads.
    static constexpr uint64_t kMaxFileSize = uint64_t{1} << 30;

    // Parses `bytes`; `name` (usually the path) starts every error message. Throws
    // xenolith::Error when the image is malformed or not an ELF64 x86-64 executable.
    static ElfImage parse(std::vector<uint8_t> bytes, std::string name);
    // Reads and parses the file at `path`; a missing or unreadable file is an Error naming it.
    static ElfImage load(const std::string& path);

    const std::string& name() const { return name_; }
    std::span<const uint8_t> bytes() const { return bytes_; }
    uint64_t elf_entry() const { return entry_; }
    // The PT_LOAD segments sorted by paddr; they do not overlap physically.
    const std::vector<LoadSegment>& segments() const { return segments_; }
    const XenNotes& xen_notes() const { return notes_; }

    // The FUNC or OBJECT symbol containing `address` (the one starting nearest below it when
    // several do), else the nearest FUNC below `address` in the same PT_LOAD segment, else
    // nullopt. Also nullopt when the image has no symbol table.
    std::optional<Symbol> symbolize(uint64_t address) const;

    // The FUNC or OBJECT symbol called `name` (the first, if several are), else nullopt.
    std::optional<Symbol> lookup(std::string_view name) const;

    // The file bytes of a segment returned by segments() (file_size bytes at file_offset).
    std::span<const uint8_t> segment_bytes(const LoadSegment& segment) const;

  private:
    struct SymbolEntry {
        uint64_t address;
        uint64_t size;
        uint64_t end_max;    // the largest address + size among entries up to this one
        uint32_t name;       // offset into the string table
        uint32_t prev_func;  // index of the nearest FUNC at or before this one, or kNone
        bool is_func;
    };
    static constexpr uint32_t kNone = UINT32_MAX;

    class Parser;

    ElfImage() = default;

    std::string name_;
    std::vector<uint8_t> bytes_;
    uint64_t entry_ = 0;
    std::vector<LoadSegment> segments_;
    XenNotes notes_;
    std::vector<SymbolEntry> symbols_;  // sorted by address
    uint64_t strtab_offset_ = 0;        // file offset of the symbols' string table
    uint64_t strtab_size_ = 0;          // it ends with a NUL (checked)
};

}  // namespace xenolith::boot
