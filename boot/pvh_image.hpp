// A kernel that can boot as a PVH guest: an ELF with XEN_ELFNOTE_PHYS32_ENTRY, given either
// directly (vmlinux, Mini-OS, GRUB's PVH image) or inside a Linux bzImage (vmlinuz), whose
// compressed payload is the vmlinux ELF.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "boot/elf_image.hpp"
#include "boot/hypercall_sites.hpp"
#include "boot/kernel_payload.hpp"

namespace xenolith::boot {

class PvhKernel {
  public:
    enum class Format { kElf, kBzImage };

    // Reads the file at `path` (at most ElfImage::kMaxFileSize bytes) and parses it.
    static PvhKernel load(const std::string& path);
    // Parses an ELF or a bzImage held in memory; `name` starts every error message. Throws
    // xenolith::Error when the image is malformed or has no PVH entry.
    static PvhKernel parse(std::vector<uint8_t> bytes, const std::string& name);

    Format format() const { return format_; }
    // For a bzImage, how its payload was compressed.
    Compression compression() const { return compression_; }
    // The ELF that is loaded: the file itself, or the bzImage's decompressed payload.
    const ElfImage& elf() const { return elf_; }
    // The 32-bit physical entry point from XEN_ELFNOTE_PHYS32_ENTRY.
    uint32_t entry() const { return entry_; }
    // Where the kernel executes vmmcall and vmcall (find_hypercall_sites on elf()); empty
    // when it has no unique pair. Scans the kernel's code on every call.
    std::vector<HypercallSite> hypercall_sites() const { return find_hypercall_sites(elf_); }

  private:
    PvhKernel(ElfImage elf, Format format, Compression compression, uint32_t entry)
        : elf_(std::move(elf)), format_(format), compression_(compression), entry_(entry) {}

    static PvhKernel from_elf(ElfImage elf, const std::string& name, Format format,
                              Compression compression);

    ElfImage elf_;
    Format format_;
    Compression compression_;
    uint32_t entry_;
};

}  // namespace xenolith::boot
